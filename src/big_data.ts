/**
 * Big-data items: named blobs in an object's data directory, one file per
 * key (file names in src/ids.ts), written atomically while their size and
 * SHA-256 are computed.
 *
 * @module
 */

import { join } from "./path.ts";
import { isNotFound, StorageError } from "./errors.ts";
import { checkBigDataKey } from "./ids.ts";
import { writeStreamAtomic } from "./record_file.ts";

/**
 * A SHA-256 hasher, from node:crypto loaded on first use: this module is
 * part of every store open (the image and container stores use it), and
 * node:crypto would add to the start-up of every command.
 */
async function sha256(): Promise<import("node:crypto").Hash> {
  const { createHash } = await import("node:crypto");
  return createHash("sha256");
}

/**
 * Size and digest of a written item.
 *
 * @example
 * ```ts
 * import { openStore } from "@cstor/storage";
 * const store = await openStore({ graphRoot: "/tmp/g", runRoot: "/tmp/r", driver: "vfs" });
 * const image = await store.createImage({ names: ["notes:1"] });
 * const info = await store.setImageBigData(image.id, "notes", new TextEncoder().encode("hi"));
 * console.log(info.size, info.digest);
 * ```
 */
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
  const hash = await sha256();
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
  const hash = await sha256();
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

/**
 * Record flag naming the big-data item whose file is being replaced. It is
 * saved before an existing item's file is replaced and cleared (with the
 * new size and digest) afterwards, so a writer killed in between leaves a
 * mark instead of a record whose size and digest describe the old content;
 * the next writer finishes the write from the file
 * ({@link finishPendingWrite}). New items need no mark: until their key is
 * recorded, their file is simply unused.
 */
export const WRITING_FLAG = "cstor.writing-big-data";

/** What {@link finishPendingWrite} updates. */
export interface BigDataRecord {
  flags: Record<string, unknown>;
  bigDataNames: string[];
  bigDataSizes: Record<string, number>;
  bigDataDigests: Record<string, string>;
}

/** The item a killed writer was replacing, if the record says so. */
export function pendingWrite(record: BigDataRecord): string | undefined {
  const key = record.flags[WRITING_FLAG];
  return typeof key === "string" ? key : undefined;
}

/**
 * Completes an interrupted replacement: size and digest are taken from the
 * item's file as it is (the old or the new content: each file replacement
 * is atomic), and the mark is removed.
 */
export async function finishPendingWrite(dir: string, record: BigDataRecord): Promise<void> {
  const key = pendingWrite(record);
  delete record.flags[WRITING_FLAG];
  if (key === undefined || key === "") return;
  const info = await statBigData(dir, key);
  if (info === null) {
    record.bigDataNames = record.bigDataNames.filter((k) => k !== key);
    delete record.bigDataSizes[key];
    delete record.bigDataDigests[key];
    return;
  }
  if (!record.bigDataNames.includes(key)) record.bigDataNames.push(key);
  record.bigDataSizes[key] = info.size;
  record.bigDataDigests[key] = info.digest;
}
