/**
 * The archive functions the drivers call, imported when first used: commands
 * that only read records (`layers`, `status`, …) would otherwise load and
 * compile the whole archive code, and node:fs with it, on every call.
 *
 * @module
 */

/** `copyTree` of src/archive/copy_tree.ts, loaded on first call. */
export const copyTree: typeof import("../archive/copy_tree.ts").copyTree = async (...a) =>
  (await import("../archive/copy_tree.ts")).copyTree(...a);

/** `remapOwners` of src/archive/remap_owners.ts, loaded on first call. */
export const remapOwners: typeof import("../archive/remap_owners.ts").remapOwners = async (...a) =>
  (await import("../archive/remap_owners.ts")).remapOwners(...a);

/** `extractTar` of src/archive/extract.ts, loaded on first call. */
export const extractTar: typeof import("../archive/extract.ts").extractTar = async (...a) =>
  (await import("../archive/extract.ts")).extractTar(...a);

/** `overlayDiffSize` of src/archive/diff_size.ts, loaded on first call. */
export const overlayDiffSize: typeof import("../archive/diff_size.ts").overlayDiffSize = async (
  ...a
) => (await import("../archive/diff_size.ts")).overlayDiffSize(...a);
