/**
 * cstor's version; kept equal to `version` in deno.json (a test checks).
 *
 * @module
 */

/** The version of this package. */
export const VERSION = "0.1.0";
