/**
 * Options of the overlay driver (layout.md §4.5): `overlay.`, `overlay2.`
 * and `.` prefixes, keys compared case-insensitively.
 *
 * @module
 */

import { isAbsolute, normalize } from "node:path";
import { StorageError } from "../errors.ts";
import { parseDriverOptions } from "./options.ts";

/** Parsed overlay options. */
export interface OverlayConfig {
  /** Default mount options (`mountopt`), as configured (the feature caches are keyed by it). */
  mountOptions: string;
  /** FUSE program that mounts instead of the kernel (fuse-overlayfs); `""` for none. */
  mountProgram: string;
  skipMountHome: boolean;
  ignoreChownErrors: boolean;
  /** Graph roots of additional image stores. */
  imageStores: string[];
}

const KNOWN = [
  "override_kernel_check",
  "mountopt",
  "size",
  "inodes",
  "imagestore",
  "additionalimagestore",
  "additionallayerstore",
  "mount_program",
  "skip_mount_home",
  "ignore_chown_errors",
  "force_mask",
];

function fail(message: string): never {
  throw new StorageError("config", undefined, { message });
}

/**
 * Parses overlay driver options.
 *
 * Refused with a clear error rather than half supported: `size`/`inodes`
 * (XFS project quota), `force_mask` (needs the mount program's xattr
 * permission scheme in extraction) and `additionallayerstore` (experimental
 * upstream).
 */
export function parseOverlayOptions(options: readonly string[]): OverlayConfig {
  const parsed = parseDriverOptions("overlay", options, KNOWN, ["overlay", "overlay2"]);
  const v = parsed.values;
  const imageStores: string[] = [];
  for (const raw of parsed.imageStores) {
    const store = normalize(raw);
    if (!isAbsolute(store)) {
      fail(`overlay: image path ${JSON.stringify(store)} is not absolute.  Can not be relative`);
    }
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(store);
    } catch (err) {
      fail(`overlay: can't stat imageStore dir ${store}: ${(err as Error).message}`);
    }
    if (!info.isDirectory) fail(`overlay: image path ${JSON.stringify(store)} must be a directory`);
    imageStores.push(store);
  }
  const mountProgram = v.get("mount_program") ?? "";
  if (mountProgram !== "") {
    try {
      Deno.statSync(mountProgram);
    } catch (err) {
      fail(
        `overlay: can't stat program ${JSON.stringify(mountProgram)}: ${(err as Error).message}`,
      );
    }
  }
  for (const key of ["size", "inodes"]) {
    const value = v.get(key) ?? "";
    if (value !== "" && value !== "0") {
      fail(
        `storage option overlay.size and overlay.inodes are not supported by cstor ` +
          `(they need XFS project quota)`,
      );
    }
  }
  if ((v.get("force_mask") ?? "") !== "") fail("overlay: force_mask is not supported by cstor");
  if ((v.get("additionallayerstore") ?? "") !== "") {
    fail("overlay: additionallayerstore is not supported by cstor");
  }
  return {
    mountOptions: v.get("mountopt") ?? "",
    mountProgram,
    skipMountHome: parsed.bool("skip_mount_home"),
    ignoreChownErrors: parsed.bool("ignore_chown_errors"),
    imageStores,
  };
}
