/**
 * Streaming tar reader implementing the {@link TarReader} contract of
 * `tar_types.ts`: ustar, v7, GNU (long names/links, base-256 numbers) and
 * PAX (local `x` and global `g`) headers, with the raw bytes of every entry
 * kept so that a caller can reproduce the input byte for byte.
 *
 * Behaviour follows Go's archive/tar where tar dialects are ambiguous, because
 * layers must extract the same way in cstor and in the Go tools:
 * - a zero block followed by EOF ends the archive like two zero blocks do, and
 *   EOF at a header boundary ends it too; EOF inside the padding after a
 *   file's content is also a clean end (Go's `tryReadFull`);
 * - PAX records with an empty value leave the header field as it was (so an
 *   `SCHILY.xattr.*` record with an empty value sets no xattr);
 * - PAX global (`g`) records do not change the fields of later entries (Go
 *   returns them as a separate header that extraction ignores); they are still
 *   listed in later entries' `pax` maps;
 * - a GNU long name/link wins over a PAX `path`/`linkpath`;
 * - an old-style `"\0"` type is a directory when the name ends in `/`;
 * - header-only types (links, devices, dirs, fifos) have no content whatever
 *   their size field says, so `header.size` is 0 for them.
 * Differences: GNU and PAX sparse files are refused (`unsupported`), and EOF
 * right after extended headers is `unexpected EOF` (Go calls it a clean end).
 *
 * @module
 */

import { StorageError } from "../errors.ts";
import { type ByteInput, type ByteReader, ByteSource, unexpectedEOF } from "./byte_source.ts";
import {
  BLOCK,
  blockPadding,
  decodeText,
  detectFormat,
  FIELD,
  fieldBytes,
  type HeaderFormat,
  invalidHeader,
  isHeaderOnlyType,
  isZeroBlock,
  MAX_SPECIAL_FILE_SIZE,
  type NumParser,
  parseNumeric,
  parsePaxRecords,
  parsePaxTime,
  type PaxRecord,
} from "./tar_header.ts";
import type { TarEntry, TarHeader, TarReader } from "./tar_types.ts";

/** Largest body chunk handed out (views of the input's chunks are usually smaller). */
const MAX_BODY_CHUNK = 1 << 20;

/** A PAX global header met before an entry, as Go's archive/tar would report it. */
export interface TarGlobalHeaderMark {
  /** Offset in the entry's `raw` just after the global header's data (before its padding). */
  end: number;
  /** The name Go reports for the global header (its header name, or its `path` record). */
  nameBytes: Uint8Array;
}

/**
 * Details this reader adds to each entry so that tar-split output can match
 * Go's byte for byte (Go reports global headers as entries of their own).
 */
export interface TarEntrySplitInfo {
  /** PAX global headers inside `raw`, in order. */
  globals: TarGlobalHeaderMark[];
  /** The header's size field as written (header-only types report 0 in `header.size`). */
  declaredSize: number;
}

/** A {@link TarEntry} from {@link readTar}, with tar-split details. */
export interface TarEntryWithSplit extends TarEntry {
  split: TarEntrySplitInfo;
}

/** The reader {@link readTar} returns: the contract plus `cancel()` and byte counts. */
export interface StreamTarReader extends TarReader {
  next(): Promise<TarEntryWithSplit | null>;
  /** Stops reading and releases the input. */
  cancel(reason?: unknown): Promise<void>;
  /** Bytes of the input consumed so far. */
  readonly consumed: number;
}

/**
 * Reads a tar stream entry by entry. Bodies stream in chunks (views of the
 * input's chunks, never buffered whole); memory stays flat.
 *
 * Errors: bad header checksum or malformed fields → `archive/tar: invalid tar
 * header`; input ending inside an entry → `unexpected EOF`; sparse files →
 * a `StorageError` with code `unsupported`.
 *
 * @example
 * ```ts
 * const tr = readTar((await Deno.open("x.tar")).readable);
 * for (let e = await tr.next(); e; e = await tr.next()) console.log(e.header.name);
 * ```
 */
export function readTar(
  input: ByteInput | ByteReader | ByteSource,
  options: ReadTarOptions = {},
): StreamTarReader {
  return new Reader(input instanceof ByteSource ? input : new ByteSource(input), options);
}

/** Options for {@link readTar}. */
export interface ReadTarOptions {
  /**
   * Shapes the first `rest()` read like Go's, so that tar-split records the
   * same segments: Go reads a layer file through a 32 KiB bufio.Reader whose
   * first fill is the 10240-byte sniffing read, so its first read after the
   * archive ends at the next offset `start + k * step` (later reads take up
   * to 1 MiB). Without it, `rest()` still hands out reads of up to 1 MiB.
   */
  restGrid?: { start: number; step: number };
}

/** Collects the raw bytes consumed for one entry without copying single parts. */
class RawParts {
  parts: Uint8Array[] = [];
  length = 0;
  push(b: Uint8Array): void {
    if (b.length === 0) return;
    this.parts.push(b);
    this.length += b.length;
  }
  concat(): Uint8Array {
    if (this.parts.length === 1) return this.parts[0];
    const out = new Uint8Array(this.length);
    let off = 0;
    for (const p of this.parts) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  }
}

class Reader implements StreamTarReader {
  #src: ByteSource;
  /** Content bytes of the current entry not yet handed out. */
  #left = 0;
  /** Padding after the current entry's content. */
  #pad = 0;
  /** Bumped on every next(), so that a stale body() iterator stops. */
  #gen = 0;
  #done = false;
  #trailer: Uint8Array | null = null;
  #failed: unknown = null;
  #restStarted = false;
  /** PAX global records seen so far (listed in `pax`, never applied to fields). */
  #global = new Map<string, string>();

  #restGrid: { start: number; step: number } | null;

  constructor(src: ByteSource, options: ReadTarOptions) {
    this.#src = src;
    this.#restGrid = options.restGrid ?? null;
  }

  get consumed(): number {
    return this.#src.consumed;
  }

  async next(): Promise<TarEntryWithSplit | null> {
    if (this.#failed) throw this.#failed;
    if (this.#done) return null;
    try {
      return await this.#next();
    } catch (err) {
      this.#failed = err;
      await this.#src.cancel(err);
      throw err;
    }
  }

  trailer(): Uint8Array {
    if (!this.#done || this.#trailer === null) {
      throw new Error("tar reader: trailer() called before the end of the archive");
    }
    return this.#trailer;
  }

  rest(): AsyncIterable<Uint8Array> {
    if (!this.#done) throw new Error("tar reader: rest() called before the end of the archive");
    if (this.#restStarted) throw new Error("tar reader: rest() can only be read once");
    this.#restStarted = true;
    return this.#rest();
  }

  async cancel(reason?: unknown): Promise<void> {
    this.#done = true;
    this.#gen++;
    await this.#src.cancel(reason);
  }

  async *#rest(): AsyncGenerator<Uint8Array> {
    let stop = Infinity;
    const grid = this.#restGrid;
    if (grid) {
      const off = this.#src.consumed;
      const next = off <= grid.start
        ? grid.start
        : grid.start + Math.ceil((off - grid.start) / grid.step) * grid.step;
      // On a grid point Go's buffer is empty and its read goes straight to the file.
      if (next > off) stop = next;
    }
    for (;;) {
      const c = await this.#src.readCoalesced(MAX_BODY_CHUNK, stop);
      stop = Infinity;
      if (c === null) return;
      yield c;
    }
  }

  #end(raw: RawParts): null {
    this.#trailer = raw.concat();
    this.#done = true;
    return null;
  }

  async #next(): Promise<TarEntryWithSplit | null> {
    const src = this.#src;
    this.#gen++;
    if (this.#left > 0) {
      const skipped = await src.skip(this.#left);
      if (skipped < this.#left) throw unexpectedEOF();
      this.#left = 0;
    }
    const raw = new RawParts();
    if (this.#pad > 0) {
      const want = this.#pad;
      this.#pad = 0;
      const p = src.takeSync(want) ?? await src.readFull(want);
      raw.push(p);
      if (p.length < want) return this.#end(raw);
    }

    let local: PaxRecord[] | null = null;
    let longName: Uint8Array | null = null;
    let longLink: Uint8Array | null = null;
    const globals: TarGlobalHeaderMark[] = [];

    for (;;) {
      const blk = src.takeSync(BLOCK) ?? await src.readFull(BLOCK);
      if (blk.length === 0) {
        if (local || longName || longLink) throw unexpectedEOF();
        return this.#end(raw);
      }
      if (blk.length < BLOCK) throw unexpectedEOF();
      raw.push(blk);
      if (isZeroBlock(blk)) {
        const blk2 = await src.readFull(BLOCK);
        raw.push(blk2);
        if (blk2.length === 0) return this.#end(raw);
        if (blk2.length < BLOCK) throw unexpectedEOF();
        if (isZeroBlock(blk2)) return this.#end(raw);
        throw invalidHeader();
      }
      const format = detectFormat(blk);
      if (format === null) throw invalidHeader();
      const p: NumParser = { bad: false };
      const typeByte = blk[156];
      const declaredSize = parseNumeric(p, blk, 124, 136);
      if (p.bad || declaredSize < 0) throw invalidHeader();

      if (typeByte === 0x78 || typeByte === 0x67 || typeByte === 0x4c || typeByte === 0x4b) {
        // x, g, L, K: extended headers whose data applies to what follows.
        if (declaredSize > MAX_SPECIAL_FILE_SIZE) {
          throw new StorageError("invalid-input", undefined, {
            message: "archive/tar: header field too long",
          });
        }
        // Copied: records and names outlive the input chunk they came in.
        const data = (await src.readExact(declaredSize)).slice();
        raw.push(data);
        const dataEnd = raw.length;
        const pad = blockPadding(declaredSize);
        if (pad > 0) raw.push(await src.readExact(pad));
        if (typeByte === 0x78) {
          local = parsePaxRecords(data);
        } else if (typeByte === 0x67) {
          const records = parsePaxRecords(data);
          let nameBytes = headerName(blk, format);
          for (const r of records) {
            this.#global.set(r.key, decodeText(r.value));
            if (r.key === "path" && r.value.length > 0) nameBytes = r.value;
          }
          globals.push({ end: dataEnd, nameBytes: nameBytes.slice() });
          // Go returns the global header at this point, dropping what came before it.
          local = null;
          longName = null;
          longLink = null;
        } else {
          const nul = data.indexOf(0);
          const value = nul < 0 ? data : data.subarray(0, nul);
          if (typeByte === 0x4c) longName = value;
          else longLink = value;
        }
        continue;
      }
      if (typeByte === 0x53) throw unsupportedSparse();

      const header = buildHeader(blk, format, p);
      if (p.bad) throw invalidHeader();
      header.size = declaredSize;
      const pax = this.#global.size > 0 ? new Map(this.#global) : new Map<string, string>();
      if (local) applyPax(header, local, pax);
      header.pax = pax;
      if (longName) {
        header.nameBytes = longName;
        header.name = decodeText(longName);
      }
      if (longLink) header.linkname = decodeText(longLink);
      if (typeByte === 0) header.type = header.name.endsWith("/") ? "5" : "0";
      const tarSplitSize = header.size;
      if (isHeaderOnlyType(header.type)) header.size = 0;
      if (header.size < 0 || !Number.isSafeInteger(header.size)) throw invalidHeader();

      this.#left = header.size;
      this.#pad = blockPadding(header.size);
      const gen = this.#gen;
      return {
        header,
        raw: raw.concat(),
        split: { globals, declaredSize: tarSplitSize },
        body: () => this.#body(gen),
      };
    }
  }

  async *#body(gen: number): AsyncGenerator<Uint8Array> {
    while (gen === this.#gen && this.#left > 0) {
      const c = await this.#src.readUpTo(Math.min(this.#left, MAX_BODY_CHUNK));
      if (c === null) {
        const err = unexpectedEOF();
        this.#failed = err;
        throw err;
      }
      this.#left -= c.length;
      yield c;
    }
  }
}

function unsupportedSparse(): StorageError {
  return new StorageError("unsupported", undefined, {
    message: "archive/tar: sparse files are unsupported",
  });
}

/** Name field with the ustar/star prefix joined in front. */
function headerName(blk: Uint8Array, format: HeaderFormat): Uint8Array {
  const name = fieldBytes(blk, FIELD.name);
  let prefix: Uint8Array | null = null;
  if (format === "ustar") prefix = fieldBytes(blk, FIELD.prefix);
  else if (format === "star") prefix = fieldBytes(blk, FIELD.starPrefix);
  if (!prefix || prefix.length === 0) return name;
  const out = new Uint8Array(prefix.length + 1 + name.length);
  out.set(prefix, 0);
  out[prefix.length] = 0x2f;
  out.set(name, prefix.length + 1);
  return out;
}

/** The header as the block alone describes it (numbers set `p.bad` on error). */
function buildHeader(blk: Uint8Array, format: HeaderFormat, p: NumParser): TarHeader {
  const nameBytes = headerName(blk, format).slice();
  const h: TarHeader = {
    name: decodeText(nameBytes),
    nameBytes,
    type: String.fromCharCode(blk[156]),
    mode: parseNumeric(p, blk, 100, 108) & 0o7777,
    uid: parseNumeric(p, blk, 108, 116),
    gid: parseNumeric(p, blk, 116, 124),
    size: 0,
    mtimeSec: parseNumeric(p, blk, 136, 148),
    mtimeNsec: 0,
    linkname: decodeText(fieldBytes(blk, FIELD.linkname)),
    uname: "",
    gname: "",
    devmajor: 0,
    devminor: 0,
    xattrs: new Map(),
    pax: new Map(),
  };
  if (format !== "v7") {
    h.uname = decodeText(fieldBytes(blk, FIELD.uname));
    h.gname = decodeText(fieldBytes(blk, FIELD.gname));
    h.devmajor = parseNumeric(p, blk, 329, 337);
    h.devminor = parseNumeric(p, blk, 337, 345);
  }
  if (format === "gnu") {
    if (blk[345] !== 0) h.atime = { sec: parseNumeric(p, blk, 345, 357), nsec: 0 };
    if (blk[357] !== 0) h.ctime = { sec: parseNumeric(p, blk, 357, 369), nsec: 0 };
  } else if (format === "star") {
    h.atime = { sec: parseNumeric(p, blk, 476, 488), nsec: 0 };
    h.ctime = { sec: parseNumeric(p, blk, 488, 500), nsec: 0 };
  }
  return h;
}

const SPARSE_KEYS = new Set([
  "GNU.sparse.major",
  "GNU.sparse.minor",
  "GNU.sparse.name",
  "GNU.sparse.map",
  "GNU.sparse.size",
  "GNU.sparse.numblocks",
  "GNU.sparse.offset",
  "GNU.sparse.numbytes",
  "GNU.sparse.realsize",
]);

/** Applies local PAX records to the header fields; all records also go to `pax`. */
function applyPax(h: TarHeader, records: PaxRecord[], pax: Map<string, string>): void {
  for (const { key, value } of records) {
    if (SPARSE_KEYS.has(key)) throw unsupportedSparse();
    const text = decodeText(value);
    pax.set(key, text);
    if (value.length === 0) continue; // keeps the ustar value, as Go does
    switch (key) {
      case "path":
        h.nameBytes = value;
        h.name = text;
        break;
      case "linkpath":
        h.linkname = text;
        break;
      case "uname":
        h.uname = text;
        break;
      case "gname":
        h.gname = text;
        break;
      case "uid":
        h.uid = paxInt(text);
        break;
      case "gid":
        h.gid = paxInt(text);
        break;
      case "size":
        h.size = paxInt(text);
        break;
      case "mtime": {
        const t = parsePaxTime(text);
        h.mtimeSec = t.sec;
        h.mtimeNsec = t.nsec;
        break;
      }
      case "atime":
        h.atime = parsePaxTime(text);
        break;
      case "ctime":
        h.ctime = parsePaxTime(text);
        break;
      default:
        if (key.startsWith("SCHILY.xattr.")) h.xattrs.set(key.slice(13), value);
    }
  }
}

function paxInt(s: string): number {
  if (!/^[+-]?\d+$/.test(s)) throw invalidHeader();
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw invalidHeader();
  return n;
}
