/**
 * Driver option strings (`vfs.imagestore=/x`, `overlay.mountopt=nodev`,
 * `.ignore_chown_errors=true`): the driver-name prefix (or a bare `.`) is
 * dropped and keys are compared case-insensitively, as upstream does.
 *
 * @module
 */

import { StorageError } from "../errors.ts";

/** Parsed driver options. */
export interface DriverOptionValues {
  /** Every `imagestore` / `additionalimagestore` path, split on commas, in order. */
  imageStores: string[];
  /** The last value given for each key (lower-case, without prefix). */
  values: Map<string, string>;
  /** A boolean option (Go's strconv.ParseBool spellings); false when absent. */
  bool(key: string): boolean;
}

const TRUE = new Set(["1", "t", "T", "true", "TRUE", "True"]);
const FALSE = new Set(["0", "f", "F", "false", "FALSE", "False"]);

/**
 * Parses `options` for driver `driver` (its name and aliases are the
 * accepted prefixes); a key not in `known` is an error, as upstream refuses
 * options it does not understand.
 */
export function parseDriverOptions(
  driver: string,
  options: readonly string[],
  known: readonly string[],
  prefixes: readonly string[] = [driver],
): DriverOptionValues {
  const values = new Map<string, string>();
  const imageStores: string[] = [];
  for (const option of options) {
    const eq = option.indexOf("=");
    if (eq < 0) {
      throw new StorageError("config", undefined, {
        message: `unable to parse key/value option: ${option}`,
      });
    }
    let key = option.slice(0, eq).trim().toLowerCase();
    const value = option.slice(eq + 1).trim();
    const prefix = prefixes.find((p) => key.startsWith(`${p}.`));
    if (prefix !== undefined) key = key.slice(prefix.length + 1);
    else if (key.startsWith(".")) key = key.slice(1);
    else {
      throw new StorageError("config", undefined, {
        message: `${driver} driver does not support ${option.slice(0, eq)} options`,
      });
    }
    if (!known.includes(key)) {
      throw new StorageError("config", undefined, {
        message: `${driver} driver does not support ${option.slice(0, eq)} options`,
      });
    }
    if (key === "imagestore" || key === "additionalimagestore") {
      for (const p of value.split(",")) if (p !== "") imageStores.push(p);
    }
    values.set(key, value);
  }
  return {
    imageStores,
    values,
    bool(key: string): boolean {
      const v = values.get(key);
      if (v === undefined || v === "") return false;
      if (TRUE.has(v)) return true;
      if (FALSE.has(v)) return false;
      throw new StorageError("config", undefined, {
        message: `${driver}.${key}: invalid boolean ${JSON.stringify(v)}`,
      });
    },
  };
}
