/**
 * tar-split metadata (`<layer>.tar-split.gz`): the raw bytes of a tar stream
 * minus file contents, plus a CRC-64 per file, as gzip-compressed JSON lines
 * (spec: layers-and-diffs §3). Written while a layer is applied, read to
 * regenerate the exact tar stream later (see `assemble.ts`).
 *
 * The JSON matches what Go's tar-split writes byte for byte: key order
 * `type, name, name_raw, size, payload, position`, empty `name`/`name_raw`
 * and zero `size` omitted, `payload` null for files without content, and
 * strings escaped as Go 1.19's encoding/json does (the Debian
 * containers-storage build): `<`, `>`, `&`, U+2028, U+2029 and control
 * characters as `\u00XX` (except `\n`, `\r`, `\t`).
 *
 * @module
 */

import { StorageError } from "../errors.ts";
import { type ByteInput, ByteSource } from "./byte_source.ts";
import { Compression, compressTransform, decompress } from "./compression.ts";
import { Crc64 } from "./crc64.ts";
import { decodeText, isValidUtf8 } from "./tar_header.ts";
import { cleanPath } from "../path.ts";
import type { TarEntryWithSplit } from "./tar_reader.ts";
import type { TarSink } from "./tar_writer.ts";
import type { TarEntry, TarReader } from "./tar_types.ts";

/** Entry kinds in a tar-split file. */
export const TarSplitType = { file: 1, segment: 2 } as const;

/** One decoded tar-split entry. */
export interface TarSplitEntry {
  /** 1 = file, 2 = raw segment. */
  type: 1 | 2;
  /** File entries: the name as text (lossy when the name is not valid UTF-8). */
  name: string;
  /** File entries: the name's bytes (from `name_raw` when present). */
  nameBytes: Uint8Array;
  /** File entries: the header's size. */
  size: number;
  /** Segment bytes, or a file's 8-byte big-endian CRC-64; null when absent. */
  payload: Uint8Array | null;
  position: number;
}

/** The error tar-split reports for two file entries with the same cleaned name. */
export function duplicatePathError(): StorageError {
  return new StorageError("invalid-input", undefined, {
    message: "duplicates of file paths not supported",
  });
}

// ---- JSON in Go's byte format ----------------------------------------------

type Base64Bytes = Uint8Array & { toBase64?: () => string };
type Base64Ctor = typeof Uint8Array & { fromBase64?: (s: string) => Uint8Array };

function toBase64(b: Uint8Array): string {
  const native = (b as Base64Bytes).toBase64;
  if (native) return native.call(b);
  let s = "";
  for (let i = 0; i < b.length; i += 0x8000) {
    s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

function fromBase64(s: string): Uint8Array {
  const native = (Uint8Array as Base64Ctor).fromBase64;
  if (native) return native(s);
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// deno-lint-ignore no-control-regex
const NEEDS_ESCAPE = /[\u0000-\u001f"\\<>&\u2028\u2029]/;

/** A JSON string literal exactly as Go 1.19's encoding/json writes it (HTML-safe). */
export function goJsonString(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return `"${s}"`;
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    switch (c) {
      case 0x22:
        out += '\\"';
        break;
      case 0x5c:
        out += "\\\\";
        break;
      case 0x0a:
        out += "\\n";
        break;
      case 0x0d:
        out += "\\r";
        break;
      case 0x09:
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c === 0x3c || c === 0x3e || c === 0x26 || c === 0x2028 || c === 0x2029) {
          out += "\\u" + c.toString(16).padStart(4, "0");
        } else {
          out += s[i];
        }
    }
  }
  return out + '"';
}

/** Map key for duplicate detection: the cleaned name, byte-exact. */
function dupKey(nameBytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < nameBytes.length; i += 0x8000) {
    s += String.fromCharCode(...nameBytes.subarray(i, i + 0x8000));
  }
  return cleanPath(s);
}

// ---- packer ------------------------------------------------------------------

/**
 * Writes tar-split entries as gzip-compressed JSON lines to a sink, streaming
 * (lines are gathered into ~64 KiB pieces, then compressed). Checks for
 * duplicate file names as Go's packer does.
 */
export class TarSplitPacker {
  #pos = 0;
  #seen = new Set<string>();
  #pending: string[] = [];
  #pendingLen = 0;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #pump: Promise<void>;
  #pumpError: unknown = null;
  #closed = false;
  #encoder = new TextEncoder();

  /** @param sink receives the gzip bytes; `level` is the gzip level (default 1, Go's BestSpeed). */
  constructor(sink: TarSink, options: { level?: number } = {}) {
    const gz = compressTransform(Compression.gzip, { level: options.level ?? 1 });
    this.#writer = gz.writable.getWriter();
    this.#pump = (async () => {
      for await (const chunk of gz.readable) await sink.write(chunk);
    })().catch((err) => {
      this.#pumpError = err;
    });
  }

  /** Number of entries written so far (the next `position`). */
  get position(): number {
    return this.#pos;
  }

  /** Adds a raw segment. */
  async addSegment(payload: Uint8Array): Promise<void> {
    await this.#line(
      // Base64 never needs JSON escaping.
      `{"type":2,"payload":"${toBase64(payload)}","position":${this.#pos}}\n`,
    );
  }

  /**
   * Adds a file entry. `crc` is the 8-byte CRC-64 of the content, or null
   * when there is none (size 0). Throws `duplicates of file paths not
   * supported` for a name seen before (after path cleaning).
   */
  async addFile(name: Uint8Array, size: number, crc: Uint8Array | null): Promise<void> {
    const key = dupKey(name);
    if (this.#seen.has(key)) throw duplicatePathError();
    this.#seen.add(key);
    let line = `{"type":1`;
    if (name.length > 0) {
      // Valid UTF-8 goes to `name` (even a literal U+FFFD, as the Debian
      // build does; newer tar-split releases move such names to name_raw).
      line += isValidUtf8(name)
        ? `,"name":${goJsonString(decodeText(name))}`
        : `,"name_raw":"${toBase64(name)}"`;
    }
    if (size !== 0) line += `,"size":${size}`;
    line += `,"payload":${crc === null ? "null" : `"${toBase64(crc)}"`}`;
    line += `,"position":${this.#pos}}\n`;
    await this.#line(line);
  }

  async #line(line: string): Promise<void> {
    if (this.#closed) throw new Error("tar-split packer is closed");
    this.#pos++;
    this.#pending.push(line);
    this.#pendingLen += line.length;
    if (this.#pendingLen >= 64 * 1024) await this.#flush();
  }

  async #flush(): Promise<void> {
    if (this.#pumpError) throw this.#pumpError;
    if (this.#pendingLen === 0) return;
    const text = this.#pending.join("");
    this.#pending = [];
    this.#pendingLen = 0;
    await this.#writer.write(this.#encoder.encode(text));
  }

  /** Flushes, ends the gzip stream and waits until the sink has everything. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#flush();
    this.#closed = true;
    await this.#writer.close();
    await this.#pump;
    if (this.#pumpError) throw this.#pumpError;
  }

  /** Abandons the output (after a failure elsewhere). */
  async abort(reason?: unknown): Promise<void> {
    this.#closed = true;
    await this.#writer.abort(reason).catch(() => {});
    await this.#pump;
  }
}

// ---- reader ------------------------------------------------------------------

/**
 * Decodes a tar-split file (gzip-compressed JSON values, one per line).
 * Throws `duplicates of file paths not supported` like Go's unpacker; a
 * final line that is not complete JSON ends the listing, as in Go.
 */
export async function* readTarSplit(gz: ByteInput): AsyncGenerator<TarSplitEntry> {
  const src = new ByteSource(decompress(gz, Compression.gzip));
  const seen = new Set<string>();
  const decoder = new TextDecoder();
  let carry: Uint8Array[] = [];
  let carryLen = 0;
  try {
    for (;;) {
      const chunk = await src.readUpTo(1 << 20);
      if (chunk === null) break;
      let start = 0;
      for (;;) {
        const nl = chunk.indexOf(0x0a, start);
        if (nl < 0) break;
        let line = chunk.subarray(start, nl);
        if (carryLen > 0) {
          carry.push(line);
          line = concat(carry, carryLen + line.length);
          carry = [];
          carryLen = 0;
        }
        start = nl + 1;
        const e = parseLine(decoder.decode(line), false);
        if (e) {
          checkDuplicate(e, seen);
          yield e;
        }
      }
      if (start < chunk.length) {
        // Copied: the chunk may be a view the source reuses after this read.
        const tail = chunk.slice(start);
        carry.push(tail);
        carryLen += tail.length;
      }
    }
    if (carryLen > 0) {
      const e = parseLine(decoder.decode(concat(carry, carryLen)), true);
      if (e) {
        checkDuplicate(e, seen);
        yield e;
      }
    }
  } finally {
    await src.cancel();
  }
}

function concat(parts: Uint8Array[], len: number): Uint8Array {
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function checkDuplicate(e: TarSplitEntry, seen: Set<string>): void {
  if (e.type !== TarSplitType.file) return;
  const key = dupKey(e.nameBytes);
  if (seen.has(key)) throw duplicatePathError();
  seen.add(key);
}

function badTarSplit(detail: string): StorageError {
  return new StorageError("invalid-input", undefined, { message: `tar-split: ${detail}` });
}

/** One JSON value → entry; null for blank lines and (at the end) unparseable tails. */
function parseLine(text: string, last: boolean): TarSplitEntry | null {
  if (text.trim() === "") return null;
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(text);
  } catch (err) {
    if (last) return null;
    throw badTarSplit(`invalid entry: ${(err as Error).message}`);
  }
  if (typeof v !== "object" || v === null) throw badTarSplit("entry is not an object");
  const type = v.type;
  if (type !== 1 && type !== 2) throw badTarSplit(`unknown entry type ${String(type)}`);
  let nameBytes: Uint8Array = new Uint8Array(0);
  let name = "";
  if (typeof v.name_raw === "string" && v.name_raw !== "") {
    nameBytes = fromBase64(v.name_raw);
    name = decodeText(nameBytes);
  } else if (typeof v.name === "string") {
    name = v.name;
    nameBytes = new TextEncoder().encode(name);
  }
  const size = typeof v.size === "number" ? v.size : 0;
  const payload = typeof v.payload === "string" ? fromBase64(v.payload) : null;
  const position = typeof v.position === "number" ? v.position : 0;
  return { type, name, nameBytes, size, payload, position };
}

// ---- recording while a tar stream is read ------------------------------------

/**
 * Wraps a tar reader so that everything read through it is recorded into
 * `packer`: for each entry its raw bytes as a segment, then a file entry
 * with the CRC-64 of its content (computed as the content streams, including
 * content the consumer skips); at the end the trailer, then — while the
 * consumer drains `rest()` — each trailing chunk and a final empty segment,
 * as Go does. The consumer must read the wrapper to the end and drain
 * `rest()`; closing the packer is the caller's job.
 *
 * Entries from {@link readTar} carry extra details that make the output
 * byte-identical to Go's (PAX global headers become entries of their own);
 * other readers still give a concatenation-identical result.
 */
export function recordTarSplit(reader: TarReader, packer: TarSplitPacker): TarReader {
  return new RecordingReader(reader, packer);
}

/** The entry whose file record is still owed (written once its content is read). */
interface OpenEntry {
  entry: TarEntry;
  /** Size for the record: the header's size field, as Go records it. */
  size: number;
  crc: Crc64;
  iter: AsyncIterator<Uint8Array> | null;
  done: boolean;
}

class RecordingReader implements TarReader {
  #inner: TarReader;
  #packer: TarSplitPacker;
  #open: OpenEntry | null = null;

  constructor(inner: TarReader, packer: TarSplitPacker) {
    this.#inner = inner;
    this.#packer = packer;
  }

  async next(): Promise<TarEntry | null> {
    await this.#closeOpen();
    const e = await this.#inner.next();
    if (e === null) {
      const trailer = this.#inner.trailer();
      if (trailer.length > 0) await this.#packer.addSegment(trailer);
      return null;
    }
    const split = (e as Partial<TarEntryWithSplit>).split;
    let raw = e.raw;
    let size = e.header.size;
    if (split) {
      size = split.declaredSize;
      // Go reports each PAX global header as an entry: a segment up to the
      // end of its data, then a file record without content.
      let start = 0;
      for (const g of split.globals) {
        await this.#packer.addSegment(raw.subarray(start, g.end));
        await this.#packer.addFile(g.nameBytes, 0, null);
        start = g.end;
      }
      raw = raw.subarray(start);
    }
    if (raw.length > 0) await this.#packer.addSegment(raw);
    const open: OpenEntry = { entry: e, size, crc: new Crc64(), iter: null, done: false };
    this.#open = open;
    return { header: e.header, raw: e.raw, body: () => this.#body(open) };
  }

  trailer(): Uint8Array {
    return this.#inner.trailer();
  }

  rest(): AsyncIterable<Uint8Array> {
    return this.#rest();
  }

  async *#rest(): AsyncGenerator<Uint8Array> {
    for await (const chunk of this.#inner.rest()) {
      await this.#packer.addSegment(chunk);
      yield chunk;
    }
    // Go records the read that hit end of input as an empty segment.
    await this.#packer.addSegment(new Uint8Array(0));
  }

  async *#body(open: OpenEntry): AsyncGenerator<Uint8Array> {
    for (;;) {
      const c = await this.#pull(open);
      if (c === null) return;
      yield c;
    }
  }

  async #pull(open: OpenEntry): Promise<Uint8Array | null> {
    if (open.done || this.#open !== open) return null;
    open.iter ??= open.entry.body()[Symbol.asyncIterator]();
    const r = await open.iter.next();
    if (r.done) {
      open.done = true;
      return null;
    }
    open.crc.update(r.value);
    return r.value;
  }

  async #closeOpen(): Promise<void> {
    const open = this.#open;
    if (!open) return;
    while ((await this.#pull(open)) !== null) {
      // drained for the checksum
    }
    this.#open = null;
    await this.#packer.addFile(
      open.entry.header.nameBytes,
      open.size,
      open.size > 0 ? open.crc.digest() : null,
    );
  }
}
