/**
 * Streaming tar writer. Headers are USTAR when every field fits (long names
 * split into prefix/name as USTAR allows), otherwise a PAX `x` header carries
 * what does not fit, much as Go's archive/tar does: long or non-ASCII names,
 * link targets and user/group names, large ids and sizes, negative or
 * sub-second times, access/change times and `SCHILY.xattr.*` attributes.
 * Device numbers too large for octal use GNU base-256 (PAX has no key for
 * them). GNU tar, bsdtar and Go read the output.
 *
 * @module
 */

import { StorageError } from "../errors.ts";
import {
  BLOCK,
  blockPadding,
  decodeText,
  encodePaxRecord,
  encodeText,
  FIELD,
  fitsOctal,
  formatBase256,
  formatBytes,
  formatOctal,
  formatPaxTime,
  isASCII,
  isHeaderOnlyType,
  writeChecksum,
} from "./tar_header.ts";
import { cleanPath } from "../path.ts";

/**
 * Where the writer puts bytes. A `WritableStreamDefaultWriter<Uint8Array>`
 * fits, as does any object with an awaitable `write`. The writer awaits each
 * write and hands every chunk over for good: it never touches a chunk again
 * after passing it to the sink.
 */
export interface TarSink {
  write(chunk: Uint8Array): Promise<void>;
}

/**
 * What the writer needs of a header: a full `TarHeader` (tar_types.ts) fits; only
 * `name` and `type` are required, the rest default to 0/empty.
 * `pax` records are written as given, except keys the writer derives from
 * the fields (path, linkpath, size, uid, gid, uname, gname, mtime, atime,
 * ctime, `SCHILY.xattr.*`), which the fields decide.
 */
export interface TarWriteHeader {
  name: string;
  /** Raw name bytes (non-UTF-8 names); used when they decode to `name`. */
  nameBytes?: Uint8Array;
  type: string;
  mode?: number;
  uid?: number;
  gid?: number;
  /** Content size; ignored (written as 0) for links, devices, directories and fifos. */
  size?: number;
  mtimeSec?: number;
  /** Written (as a PAX `mtime` with a fraction) only when not 0. */
  mtimeNsec?: number;
  /** Written as PAX `atime`/`ctime` when present. */
  atime?: { sec: number; nsec: number };
  ctime?: { sec: number; nsec: number };
  linkname?: string;
  uname?: string;
  gname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Map<string, Uint8Array>;
  pax?: Map<string, string>;
}

/** Options for {@link TarWriter}. */
export interface TarWriterOptions {
  /** Small writes are gathered into chunks of this size before reaching the sink (default 64 KiB). */
  bufferSize?: number;
}

const DERIVED_KEYS = new Set([
  "path",
  "linkpath",
  "size",
  "uid",
  "gid",
  "uname",
  "gname",
  "mtime",
  "atime",
  "ctime",
]);

function writerError(message: string): StorageError {
  return new StorageError("invalid-input", undefined, { message: `archive/tar: ${message}` });
}

/**
 * Writes a tar stream entry by entry: `writeHeader`, then exactly `size`
 * bytes through `writeBody`, …, then `close()` (which pads and appends the two
 * zero blocks; it does not close the sink).
 *
 * Chunks given to `writeBody` may be passed to the sink as they are; do not
 * modify them afterwards.
 *
 * @example
 * ```ts
 * const file = await Deno.create("out.tar");
 * const w = file.writable.getWriter();
 * const tw = new TarWriter(w);
 * const data = new TextEncoder().encode("hi\n");
 * await tw.writeHeader({ name: "hello.txt", type: "0", mode: 0o644, size: data.length });
 * await tw.writeBody(data);
 * await tw.close();
 * await w.close();
 * ```
 */
export class TarWriter {
  #sink: TarSink;
  #bufSize: number;
  #buf: Uint8Array;
  #len = 0;
  /** Content bytes the current entry still expects. */
  #left = 0;
  /** Padding owed after the current entry's content. */
  #pad = 0;
  #written = 0;
  #closed = false;

  constructor(sink: TarSink, options: TarWriterOptions = {}) {
    this.#sink = sink;
    this.#bufSize = options.bufferSize ?? 64 * 1024;
    this.#buf = new Uint8Array(this.#bufSize);
  }

  /** Bytes of tar produced so far (including bytes still buffered). */
  get written(): number {
    return this.#written;
  }

  /** Starts an entry. The previous entry's content must be complete. */
  async writeHeader(h: TarWriteHeader): Promise<void> {
    await this.#finishEntry();
    const size = isHeaderOnlyType(h.type) ? 0 : (h.size ?? 0);
    for (const blk of encodeHeader(h, size)) await this.#emit(blk);
    this.#left = size;
    this.#pad = blockPadding(size);
  }

  /** Writes part of the current entry's content. */
  async writeBody(chunk: Uint8Array): Promise<void> {
    if (chunk.length > this.#left) throw writerError("write too long");
    this.#left -= chunk.length;
    await this.#emit(chunk);
  }

  /** Header plus the whole content (bytes or chunks), checking the size. */
  async writeEntry(
    h: TarWriteHeader,
    body?: Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  ): Promise<void> {
    await this.writeHeader(h);
    if (body instanceof Uint8Array) await this.writeBody(body);
    else if (body) { for await (const c of body) await this.writeBody(c); }
    await this.#finishEntry();
  }

  /** Pads the last entry, writes the end-of-archive blocks and flushes. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#finishEntry();
    await this.#emit(new Uint8Array(2 * BLOCK));
    await this.#flush();
    this.#closed = true;
  }

  /** Passes buffered bytes on to the sink now (headers are otherwise gathered). */
  async flush(): Promise<void> {
    await this.#flush();
  }

  async #finishEntry(): Promise<void> {
    if (this.#closed) throw writerError("write after close");
    if (this.#left > 0) throw writerError(`missed writing ${this.#left} bytes`);
    if (this.#pad > 0) {
      const pad = this.#pad;
      this.#pad = 0;
      await this.#emit(new Uint8Array(pad));
    }
  }

  async #emit(b: Uint8Array): Promise<void> {
    this.#written += b.length;
    // Big chunks go straight through; small ones are gathered so the sink
    // sees few, large chunks even for archives of many tiny files.
    if (b.length >= this.#bufSize / 4) {
      await this.#flush();
      await this.#sink.write(b);
      return;
    }
    if (this.#len + b.length > this.#bufSize) await this.#flush();
    this.#buf.set(b, this.#len);
    this.#len += b.length;
  }

  async #flush(): Promise<void> {
    if (this.#len === 0) return;
    const out = this.#buf.subarray(0, this.#len);
    this.#buf = new Uint8Array(this.#bufSize);
    this.#len = 0;
    await this.#sink.write(out);
  }
}

/**
 * A ReadableStream of the tar that `produce` writes; `produce` starts on the
 * first read and is paced by the reader (backpressure). `close()` is called
 * for it. Cancelling the stream makes the next write fail.
 */
export function tarStream(
  produce: (tw: TarWriter) => Promise<void>,
  options: TarWriterOptions = {},
): ReadableStream<Uint8Array> {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let wake: (() => void) | null = null;
  let cancelled: unknown = null;
  let started = false;
  const sink: TarSink = {
    async write(chunk) {
      if (cancelled !== null) throw new Error("tar stream cancelled", { cause: cancelled });
      controller.enqueue(chunk);
      while ((controller.desiredSize ?? 0) <= 0 && cancelled === null) {
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
  };
  return new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    pull() {
      if (!started) {
        started = true;
        const tw = new TarWriter(sink, options);
        produce(tw).then(() => tw.close()).then(
          () => {
            if (cancelled === null) controller.close();
          },
          (err) => {
            if (cancelled === null) controller.error(err);
          },
        );
      }
      const w = wake;
      wake = null;
      w?.();
    },
    cancel(reason) {
      cancelled = reason ?? new Error("cancelled");
      const w = wake;
      wake = null;
      w?.();
    },
  }, { highWaterMark: 4 });
}

/** Go's path.Split + path.Join(dir, "PaxHeaders.0", file), for the `x` header's name. */
function paxHeaderName(name: string): string {
  const i = name.lastIndexOf("/");
  const dir = name.slice(0, i + 1);
  const file = name.slice(i + 1);
  return cleanPath([dir, "PaxHeaders.0", file].filter((s) => s !== "").join("/"));
}

/** Printable-ASCII stand-in for a field that a PAX record carries in full. */
function asciiOnly(b: Uint8Array, width: number): Uint8Array {
  if (isASCII(b) && b.length <= width) return b;
  const out: number[] = [];
  for (let i = 0; i < b.length && out.length < width; i++) if (b[i] < 0x80) out.push(b[i]);
  return new Uint8Array(out);
}

/** USTAR prefix/name split of a long ASCII path, or null when it cannot be split. */
function splitUstarPath(b: Uint8Array): [Uint8Array, Uint8Array] | null {
  if (b.length <= 100 || !isASCII(b)) return null;
  let limit = Math.min(b.length, 156);
  if (limit === b.length && b[limit - 1] === 0x2f) limit--;
  const i = b.subarray(0, limit).lastIndexOf(0x2f);
  if (i <= 0) return null;
  const suffixLen = b.length - i - 1;
  if (suffixLen === 0 || suffixLen > 100 || i > 155) return null;
  return [b.subarray(0, i), b.subarray(i + 1)];
}

/** The blocks for one entry's header: an optional PAX header with its data, then the header. */
function encodeHeader(h: TarWriteHeader, size: number): Uint8Array[] {
  const blk = new Uint8Array(BLOCK);
  const pax = new Map<string, Uint8Array>();
  const str = (
    key: string,
    v: string | Uint8Array | undefined,
    field: readonly [number, number],
  ) => {
    const b = typeof v === "string" ? encodeText(v) : (v ?? new Uint8Array(0));
    if (b.includes(0)) throw writerError(`${key} contains a NUL byte`);
    const width = field[1] - field[0];
    if (b.length <= width && isASCII(b)) {
      formatBytes(blk, field, b);
    } else {
      pax.set(key, b);
      formatBytes(blk, field, asciiOnly(b, width));
    }
  };
  const num = (key: string | null, v: number, field: readonly [number, number]) => {
    if (fitsOctal(v, field[1] - field[0])) formatOctal(blk, field, v);
    else if (key !== null) {
      pax.set(key, encodeText(String(v)));
      formatOctal(blk, field, 0);
    } else formatBase256(blk, field, v);
  };

  // Raw bytes win only while they still spell `name`, so that renaming a
  // header taken from the reader (which fills both) does what one expects.
  const nameBytes = h.nameBytes && decodeText(h.nameBytes) === h.name
    ? h.nameBytes
    : encodeText(h.name);
  const split = splitUstarPath(nameBytes);
  if (split) {
    formatBytes(blk, FIELD.name, split[1]);
    formatBytes(blk, FIELD.prefix, split[0]);
  } else {
    str("path", nameBytes, FIELD.name);
  }
  num(null, h.mode ?? 0, FIELD.mode);
  num("uid", h.uid ?? 0, FIELD.uid);
  num("gid", h.gid ?? 0, FIELD.gid);
  num("size", size, FIELD.size);
  const mtime = h.mtimeSec ?? 0;
  const mtimeNsec = h.mtimeNsec ?? 0;
  if (mtimeNsec !== 0 || !fitsOctal(mtime, 12)) {
    pax.set("mtime", encodeText(formatPaxTime(mtime, mtimeNsec)));
    formatOctal(blk, FIELD.mtime, fitsOctal(mtime, 12) ? mtime : 0);
  } else {
    formatOctal(blk, FIELD.mtime, mtime);
  }
  blk[156] = h.type ? h.type.charCodeAt(0) : 0x30;
  str("linkpath", h.linkname, FIELD.linkname);
  blk.set(encodeText("ustar\x0000"), 257);
  str("uname", h.uname, FIELD.uname);
  str("gname", h.gname, FIELD.gname);
  num(null, h.devmajor ?? 0, FIELD.devmajor);
  num(null, h.devminor ?? 0, FIELD.devminor);
  if (h.atime) pax.set("atime", encodeText(formatPaxTime(h.atime.sec, h.atime.nsec)));
  if (h.ctime) pax.set("ctime", encodeText(formatPaxTime(h.ctime.sec, h.ctime.nsec)));
  if (h.xattrs) {
    for (const [k, v] of h.xattrs) pax.set(`SCHILY.xattr.${k}`, v);
  }
  if (h.pax) {
    for (const [k, v] of h.pax) {
      if (DERIVED_KEYS.has(k) || k.startsWith("SCHILY.xattr.") || pax.has(k)) continue;
      pax.set(k, encodeText(v));
    }
  }
  writeChecksum(blk);
  if (pax.size === 0) return [blk];

  // Sorted keys, as Go writes them: the output does not depend on insertion order.
  const records = [...pax.keys()].sort().map((k) => encodePaxRecord(k, pax.get(k)!));
  let dataLen = 0;
  for (const r of records) dataLen += r.length;
  const data = new Uint8Array(dataLen + blockPadding(dataLen));
  let off = 0;
  for (const r of records) {
    data.set(r, off);
    off += r.length;
  }
  const xh = new Uint8Array(BLOCK);
  const xname = asciiOnly(encodeText(paxHeaderName(h.name)), 100);
  let xlen = xname.length;
  while (xlen > 0 && xname[xlen - 1] === 0x2f) xlen--;
  formatBytes(xh, FIELD.name, xname.subarray(0, xlen));
  formatOctal(xh, FIELD.mode, 0);
  formatOctal(xh, FIELD.uid, 0);
  formatOctal(xh, FIELD.gid, 0);
  formatOctal(xh, FIELD.size, dataLen);
  formatOctal(xh, FIELD.mtime, 0);
  xh[156] = 0x78;
  xh.set(encodeText("ustar\x0000"), 257);
  writeChecksum(xh);
  return [xh, data, blk];
}
