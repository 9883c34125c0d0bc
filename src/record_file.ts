/**
 * Reading and atomically replacing the store's JSON files (layout.md §2).
 *
 * All of it is synchronous on purpose: a load or save then runs as one step
 * of the event loop, so no other task of this process can see a half-loaded
 * store, and the work is a few small syscalls anyway.
 *
 * @module
 */

import { basename, dirname, join } from "./path.ts";
import { CorruptStoreError, errorMessage, isNotFound } from "./errors.ts";

/**
 * Reads a JSON array of objects. A missing or empty file is `[]`; anything
 * else that is not an array of objects throws a {@link CorruptStoreError}
 * naming the file, and the file is left as it is.
 */
export function readRecordArray(path: string): Record<string, unknown>[] {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (err) {
    if (isNotFound(err)) return [];
    throw new CorruptStoreError(path, errorMessage(err), { cause: err });
  }
  if (text.trim() === "") return [];
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CorruptStoreError(path, `invalid JSON: ${errorMessage(err)}`, { cause: err });
  }
  if (value === null) return [];
  if (!Array.isArray(value)) {
    throw new CorruptStoreError(path, "expected a JSON array of records");
  }
  value.forEach((item, i) => {
    if (item === null || typeof item !== "object" || Array.isArray(item)) {
      throw new CorruptStoreError(path, `record ${i} is not a JSON object`);
    }
  });
  return value as Record<string, unknown>[];
}

/** Options for {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** Skip fdatasync (volatile files: their loss at a crash is accepted). */
  noSync?: boolean;
  /** Final mode; 0o600 by default. */
  mode?: number;
}

const TMP_PREFIX = ".tmp-";

/**
 * Replaces `path` with `data`: write to `.tmp-<name><random>` in the same
 * directory, fdatasync, chmod, rename. Readers see the old or the new file,
 * never a mix; a crash leaves at most a `.tmp-` file, which
 * {@link removeStaleTempFiles} cleans.
 */
export function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  options: AtomicWriteOptions = {},
): void {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const tmp = join(dirname(path), `${TMP_PREFIX}${basename(path)}${randomSuffix()}`);
  const file = Deno.openSync(tmp, { write: true, createNew: true, mode: 0o600 });
  try {
    let off = 0;
    while (off < bytes.length) off += file.writeSync(bytes.subarray(off));
    if (!options.noSync) file.syncDataSync();
    file.close();
    Deno.chmodSync(tmp, options.mode ?? 0o600);
    Deno.renameSync(tmp, path);
  } catch (err) {
    try {
      file.close();
    } catch { /* already closed */ }
    try {
      Deno.removeSync(tmp);
    } catch { /* nothing to clean */ }
    throw err;
  }
}

/** Streams `source` into `path` atomically (same rules as {@link writeFileAtomic}). */
export async function writeStreamAtomic(
  path: string,
  source: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
  options: AtomicWriteOptions = {},
): Promise<number> {
  const tmp = join(dirname(path), `${TMP_PREFIX}${basename(path)}${randomSuffix()}`);
  const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
  let size = 0;
  try {
    for await (const chunk of source) {
      let off = 0;
      while (off < chunk.length) off += await file.write(chunk.subarray(off));
      size += chunk.length;
    }
    if (!options.noSync) await file.syncData();
    file.close();
    await Deno.chmod(tmp, options.mode ?? 0o600);
    await Deno.rename(tmp, path);
    return size;
  } catch (err) {
    try {
      file.close();
    } catch { /* already closed */ }
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
}

/**
 * Removes the `.tmp-…` files in `dir` (not below it). Call only while holding
 * the exclusive lock of the store that writes there: then none of them can
 * belong to a write in progress, so they were left by a killed writer.
 */
export function removeStaleTempFiles(dir: string): void {
  let entries: Iterable<Deno.DirEntry>;
  try {
    entries = Deno.readDirSync(dir);
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!entry.isFile || !entry.name.startsWith(TMP_PREFIX)) continue;
    try {
      Deno.removeSync(join(dir, entry.name));
    } catch { /* raced with another cleaner */ }
  }
}

function randomSuffix(): string {
  return String(crypto.getRandomValues(new Uint32Array(1))[0]);
}

/** mtime of a file in nanoseconds-ish precision as a string key, or "" when absent. */
export function fileStamp(path: string): string {
  try {
    const st = Deno.statSync(path);
    return `${st.mtime?.getTime() ?? 0}:${st.size}:${st.ino ?? 0}`;
  } catch {
    return "";
  }
}
