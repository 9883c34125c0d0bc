/**
 * cstor's version; kept equal to `version` in deno.json (a test checks).
 *
 * @module
 */

/**
 * The version of this package.
 *
 * @example
 * ```ts
 * import { VERSION } from "@cstor/storage";
 * console.log(`cstor ${VERSION}`);
 * ```
 */
export const VERSION = "0.1.0";
