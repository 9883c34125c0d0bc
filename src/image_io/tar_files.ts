/**
 * The files of a tar archive, read in place: one pass records where each
 * entry's content starts, and later reads seek there. Nothing is unpacked,
 * so an archive costs no extra disk space unless it is compressed as a
 * whole (then it is decompressed once into a temporary file).
 *
 * Symbolic and hard links inside the archive are followed within it
 * (`docker save` writes `<id>/layer.tar` as a link to the real file).
 *
 * @module
 */

import { posix } from "node:path";
import { readTar } from "../archive/tar_reader.ts";
import { Compression, decompress, detectCompression } from "../archive/compression.ts";
import { TYPE } from "../archive/tar_types.ts";
import {
  cleanLayoutPath,
  fileRangeStream,
  type LayoutFiles,
  MAX_JSON_SIZE,
} from "./layout_files.ts";
import { ImageInputError } from "./errors.ts";

interface Entry {
  type: string;
  offset: number;
  size: number;
  linkname: string;
}

const MAX_LINK_HOPS = 40;

async function sniff(path: string): Promise<Uint8Array> {
  const file = await Deno.open(path, { read: true });
  try {
    const buf = new Uint8Array(8);
    const n = (await file.read(buf)) ?? 0;
    return buf.subarray(0, n);
  } finally {
    file.close();
  }
}

async function indexTar(path: string): Promise<Map<string, Entry>> {
  const entries = new Map<string, Entry>();
  const file = await Deno.open(path, { read: true });
  const tr = readTar(file);
  try {
    for (let e = await tr.next(); e; e = await tr.next()) {
      const name = cleanLayoutPath(e.header.name);
      if (name === undefined) continue;
      entries.set(name, {
        type: e.header.type,
        offset: tr.consumed,
        size: e.header.size,
        linkname: e.header.linkname,
      });
    }
  } catch (err) {
    throw new ImageInputError("bad-json", `reading archive ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  } finally {
    await tr.cancel().catch(() => {});
    try {
      file.close();
    } catch {
      // closed by the reader
    }
  }
  return entries;
}

/**
 * Opens the tar archive at `path` (plain, or compressed as a whole with
 * gzip, zstd, bzip2 or xz) for reading its files.
 */
export async function tarFiles(path: string): Promise<LayoutFiles> {
  let tarPath = path;
  let temp: string | undefined;
  const kind = detectCompression(await sniff(path));
  if (kind !== Compression.none) {
    temp = await Deno.makeTempFile({ prefix: "cstor-archive-", suffix: ".tar" });
    tarPath = temp;
    const src = await Deno.open(path, { read: true });
    await decompress(src.readable, kind).pipeTo((await Deno.create(temp)).writable);
  }
  let entries: Map<string, Entry>;
  try {
    entries = await indexTar(tarPath);
  } catch (err) {
    if (temp) await Deno.remove(temp).catch(() => {});
    throw err;
  }

  const lookup = (p: string): Entry | undefined => {
    let name = cleanLayoutPath(p);
    for (let hops = 0; name !== undefined && hops <= MAX_LINK_HOPS; hops++) {
      const e = entries.get(name);
      if (e === undefined) return undefined;
      if (e.type === TYPE.symlink) {
        name = cleanLayoutPath(posix.join(posix.dirname(name), e.linkname));
      } else if (e.type === TYPE.hardlink) {
        name = cleanLayoutPath(e.linkname);
      } else {
        return e.type === TYPE.file || e.type === TYPE.contiguous ? e : undefined;
      }
    }
    return undefined;
  };
  const open = async (e: Entry) => fileRangeStream(await Deno.open(tarPath), e.offset, e.size);

  return {
    origin: path,
    size: (p) => Promise.resolve(lookup(p)?.size),
    async read(p, limit = MAX_JSON_SIZE) {
      const e = lookup(p);
      if (e === undefined) return undefined;
      if (e.size > limit) throw new Error(`${p} is too large (${e.size} bytes)`);
      return new Uint8Array(await new Response(await open(e)).arrayBuffer());
    },
    async open(p) {
      const e = lookup(p);
      return e === undefined ? undefined : await open(e);
    },
    async close() {
      if (temp) await Deno.remove(temp).catch(() => {});
    },
  };
}
