/**
 * Big-data items: named blobs in an object's data directory, one file per
 * key (file names in src/ids.ts), written atomically while their size and
 * SHA-256 are computed.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { isNotFound, StorageError } from "./errors.ts";
import { checkBigDataKey } from "./ids.ts";
import { writeStreamAtomic } from "./record_file.ts";

/** Size and digest of a written item. */
export interface BigDataInfo {
  /** Length in bytes. */
  size: number;
  /** `sha256:<hex>` of the bytes (or the caller's manifest digest). */
  digest: string;
}

/** Writes item `key` under `dir` atomically; returns its size and `sha256:` digest. */
export async function writeBigData(
  dir: string,
  key: string,
  data: ReadableStream<Uint8Array> | Uint8Array,
): Promise<BigDataInfo> {
  const file = checkBigDataKey(key);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const hash = createHash("sha256");
  const source = data instanceof Uint8Array ? [data] : data;
  async function* hashed(): AsyncGenerator<Uint8Array> {
    for await (const chunk of source) {
      hash.update(chunk);
      yield chunk;
    }
  }
  const size = await writeStreamAtomic(join(dir, file), hashed());
  return { size, digest: `sha256:${hash.digest("hex")}` };
}

/** Reads a whole item; null when it does not exist. */
export async function readBigData(dir: string, key: string): Promise<Uint8Array | null> {
  try {
    return await Deno.readFile(join(dir, checkBigDataKey(key)));
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}

/** Opens an item for streaming; null when it does not exist. */
export async function openBigData(dir: string, key: string): Promise<Deno.FsFile | null> {
  try {
    return await Deno.open(join(dir, checkBigDataKey(key)), { read: true });
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}

/** Size and digest of an item computed from its file; null when it does not exist. */
export async function statBigData(dir: string, key: string): Promise<BigDataInfo | null> {
  const file = await openBigData(dir, key);
  if (file === null) return null;
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of file.readable) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { size, digest: `sha256:${hash.digest("hex")}` };
}

/** Removes an object's data directory (missing is fine). */
export async function removeDataDir(dir: string): Promise<void> {
  try {
    await Deno.remove(dir, { recursive: true });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/** The error for a missing item, in the wording of upstream for `kind`. */
export function missingItem(
  kind: "image" | "container" | "layer",
  key: string,
  id: string,
): StorageError {
  const hint = kind === "image" ? " (consider removing the image to resolve the issue)" : "";
  return new StorageError(
    "file-not-exist",
    `locating item named ${JSON.stringify(key)} for ${kind} with ID ${JSON.stringify(id)}${hint}`,
  );
}
