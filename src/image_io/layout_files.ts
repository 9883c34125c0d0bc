/**
 * Read access to the files of an image layout, wherever they are: a
 * directory (`oci:`) or a tar archive (`oci-archive:`, `docker-archive:`).
 * Paths are slash-separated and relative to the layout's root; a path that
 * would leave the root is treated as absent, so a hostile `manifest.json`
 * cannot make an import read files outside the layout.
 *
 * @module
 */

import { join, posix } from "node:path";
import { isNotFound } from "../errors.ts";

/** The files of a layout. */
export interface LayoutFiles {
  /** Where the files are, for messages. */
  readonly origin: string;
  /** The size of a regular file; undefined when there is none at `path`. */
  size(path: string): Promise<number | undefined>;
  /** A whole file; undefined when absent. Refuses files over `limit` bytes. */
  read(path: string, limit?: number): Promise<Uint8Array | undefined>;
  /** A file as a stream; undefined when absent. */
  open(path: string): Promise<ReadableStream<Uint8Array> | undefined>;
  /** Releases what the reader holds (temporary files). */
  close(): Promise<void>;
}

/** The largest manifest, index or config read into memory (they are small JSON files). */
export const MAX_JSON_SIZE = 16 << 20;

/** `path` cleaned and relative, or undefined when it leaves the root. */
export function cleanLayoutPath(path: string): string | undefined {
  const p = posix.normalize("/" + path).slice(1);
  if (p === "" || p.startsWith("../")) return undefined;
  return p;
}

/** A stream of `size` bytes of an open file from `offset`; the file is closed at the end. */
export function fileRangeStream(
  file: Deno.FsFile,
  offset: number,
  size: number,
): ReadableStream<Uint8Array> {
  let left = size;
  let positioned = false;
  const close = () => {
    try {
      file.close();
    } catch {
      // already closed
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        if (!positioned) {
          await file.seek(offset, Deno.SeekMode.Start);
          positioned = true;
        }
        if (left === 0) {
          close();
          controller.close();
          return;
        }
        const buf = new Uint8Array(Math.min(left, 1 << 20));
        const n = await file.read(buf);
        if (n === null) throw new Error(`unexpected EOF reading at offset ${offset + size - left}`);
        left -= n;
        controller.enqueue(n === buf.length ? buf : buf.slice(0, n));
      } catch (err) {
        close();
        controller.error(err);
      }
    },
    cancel() {
      close();
    },
  }, { highWaterMark: 0 });
}

/** The files of a layout directory. */
export function directoryFiles(root: string): LayoutFiles {
  const resolvePath = (path: string): string | undefined => {
    const clean = cleanLayoutPath(path);
    return clean === undefined ? undefined : join(root, clean);
  };
  const statFile = async (abs: string): Promise<number | undefined> => {
    try {
      const info = await Deno.stat(abs);
      return info.isFile ? info.size : undefined;
    } catch (err) {
      if (isNotFound(err) || err instanceof Deno.errors.NotADirectory) return undefined;
      throw err;
    }
  };
  return {
    origin: root,
    async size(path) {
      const abs = resolvePath(path);
      return abs === undefined ? undefined : await statFile(abs);
    },
    async read(path, limit = MAX_JSON_SIZE) {
      const abs = resolvePath(path);
      if (abs === undefined) return undefined;
      const size = await statFile(abs);
      if (size === undefined) return undefined;
      if (size > limit) throw new Error(`${path} is too large (${size} bytes)`);
      return await Deno.readFile(abs);
    },
    async open(path) {
      const abs = resolvePath(path);
      if (abs === undefined) return undefined;
      const size = await statFile(abs);
      if (size === undefined) return undefined;
      const file = await Deno.open(abs, { read: true });
      return fileRangeStream(file, 0, size);
    },
    close: () => Promise.resolve(),
  };
}

/** The path of a blob in an OCI layout: `blobs/<algorithm>/<hex>`. */
export function blobPath(digest: string): string {
  const colon = digest.indexOf(":");
  return `blobs/${digest.slice(0, colon)}/${digest.slice(colon + 1)}`;
}
