/**
 * The 512-byte tar header block: field offsets, number and string codecs,
 * checksums, format detection, and PAX record encoding. Shared by the tar
 * reader and writer; no I/O here.
 *
 * @module
 */

import { StorageError } from "../errors.ts";

/** Size of every tar block. */
export const BLOCK = 512;

/** Longest extended-header payload accepted (PAX `x`/`g`, GNU `L`/`K`), as Go limits it. */
export const MAX_SPECIAL_FILE_SIZE = 1 << 20;

/** Field positions `[start, end)` inside a header block. */
export const FIELD = {
  name: [0, 100],
  mode: [100, 108],
  uid: [108, 116],
  gid: [116, 124],
  size: [124, 136],
  mtime: [136, 148],
  chksum: [148, 156],
  typeflag: [156, 157],
  linkname: [157, 257],
  magic: [257, 263],
  version: [263, 265],
  uname: [265, 297],
  gname: [297, 329],
  devmajor: [329, 337],
  devminor: [337, 345],
  /** USTAR/PAX prefix. */
  prefix: [345, 500],
  /** GNU: access and change times where USTAR has its prefix. */
  gnuAtime: [345, 357],
  gnuCtime: [357, 369],
  /** star: shorter prefix, then times, then a "tar\0" trailer. */
  starPrefix: [345, 476],
  starAtime: [476, 488],
  starCtime: [488, 500],
  starTrailer: [508, 512],
} as const;

/** Which header dialect a block is written in. */
export type HeaderFormat = "v7" | "ustar" | "gnu" | "star";

/** The error Go's archive/tar.ErrHeader would be. */
export function invalidHeader(): StorageError {
  return new StorageError("invalid-input", undefined, {
    message: "archive/tar: invalid tar header",
  });
}

/** Bytes needed after `size` bytes of content to reach a block boundary. */
export function blockPadding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** True when all 512 bytes are zero. */
export function isZeroBlock(b: Uint8Array): boolean {
  // Word-wise when aligned: this runs on every trailer block.
  if (b.byteOffset % 4 === 0) {
    const w = new Uint32Array(b.buffer, b.byteOffset, BLOCK / 4);
    for (let i = 0; i < w.length; i++) if (w[i] !== 0) return false;
    return true;
  }
  for (let i = 0; i < BLOCK; i++) if (b[i] !== 0) return false;
  return true;
}

/**
 * Header checksums with the checksum field counted as spaces: the unsigned
 * sum (POSIX) and the signed-char sum (some old tars), as Go accepts both.
 */
export function computeChecksums(b: Uint8Array): [number, number] {
  // One pass: the plain sum and how many bytes have the sign bit set.
  let sum = 0;
  let high = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = b[i];
    sum += c;
    high += c >> 7;
  }
  for (let i = 148; i < 156; i++) {
    sum -= b[i];
    high -= b[i] >> 7;
  }
  const unsigned = sum + 8 * 0x20;
  return [unsigned, unsigned - 256 * high];
}

/** The bytes of a field up to the first NUL. */
export function fieldBytes(b: Uint8Array, [start, end]: readonly [number, number]): Uint8Array {
  const f = b.subarray(start, end);
  const nul = f.indexOf(0);
  return nul < 0 ? f : f.subarray(0, nul);
}

const utf8 = new TextDecoder();
const utf8Strict = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

/** Text of a byte string; invalid UTF-8 becomes U+FFFD (keep the bytes for fidelity). */
export function decodeText(b: Uint8Array): string {
  // ASCII fast path: most names are plain ASCII and short.
  if (b.length <= 1024) {
    let ascii = true;
    for (let i = 0; i < b.length; i++) {
      if (b[i] >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return String.fromCharCode.apply(null, b as unknown as number[]);
  }
  return utf8.decode(b);
}

/** UTF-8 encoding of a string. */
export function encodeText(s: string): Uint8Array {
  return encoder.encode(s);
}

/** True when the bytes are valid UTF-8. */
export function isValidUtf8(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) {
    if (b[i] >= 0x80) {
      try {
        utf8Strict.decode(b);
        return true;
      } catch {
        return false;
      }
    }
  }
  return true;
}

/** True when every byte is 7-bit ASCII. */
export function isASCII(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] >= 0x80) return false;
  return true;
}

/** Parse state: numeric fields set `bad` instead of throwing so all fields are read first. */
export interface NumParser {
  bad: boolean;
}

/**
 * A numeric field `b[start, end)`: octal text (padded with spaces/NULs) or
 * GNU base-256 (high bit of the first byte set; bit 6 is the sign).
 */
export function parseNumeric(p: NumParser, b: Uint8Array, start: number, end: number): number {
  if (end > start && (b[start] & 0x80) !== 0) {
    const negative = (b[start] & 0x40) !== 0;
    const inv = negative ? 0xff : 0;
    let x = 0n;
    for (let i = start; i < end; i++) {
      let c = b[i] ^ inv;
      if (i === start) c &= 0x7f;
      x = (x << 8n) | BigInt(c);
      if (x >> 63n) {
        p.bad = true;
        return 0;
      }
    }
    return Number(negative ? -x - 1n : x);
  }
  return parseOctal(p, b, start, end);
}

/** Octal text in `b[start, end)`, as Go reads it: trim spaces/NULs around, stop at an inner NUL, empty is 0. */
export function parseOctal(p: NumParser, b: Uint8Array, start: number, end: number): number {
  let s = start;
  let e = end;
  while (s < e && (b[s] === 0x20 || b[s] === 0)) s++;
  while (e > s && (b[e - 1] === 0x20 || b[e - 1] === 0)) e--;
  let x = 0;
  for (let i = s; i < e; i++) {
    const c = b[i];
    if (c === 0) break;
    if (c < 0x30 || c > 0x37) {
      p.bad = true;
      return 0;
    }
    x = x * 8 + (c - 0x30);
  }
  return x;
}

/** True when `x` fits an octal field of `width` bytes (one byte kept for the NUL). */
export function fitsOctal(x: number, width: number): boolean {
  return Number.isInteger(x) && x >= 0 && x < 8 ** (width - 1);
}

/** Writes `x` as zero-padded octal with a trailing NUL (the layout Go and GNU tar use). */
export function formatOctal(
  b: Uint8Array,
  [start, end]: readonly [number, number],
  x: number,
): void {
  const width = end - start;
  const s = x.toString(8).padStart(width - 1, "0");
  for (let i = 0; i < width - 1; i++) b[start + i] = s.charCodeAt(i);
  b[end - 1] = 0;
}

/** Writes `x` in GNU base-256 (for numbers octal cannot hold). */
export function formatBase256(
  b: Uint8Array,
  [start, end]: readonly [number, number],
  x: number,
): void {
  let v = BigInt(x);
  const negative = v < 0n;
  for (let i = end - 1; i >= start; i--) {
    b[i] = Number(BigInt.asUintN(8, v));
    v >>= 8n;
  }
  b[start] = negative ? b[start] | 0xc0 : (b[start] & 0x7f) | 0x80;
}

/** Copies a byte string into a field, truncating; the rest stays zero. */
export function formatBytes(
  b: Uint8Array,
  [start, end]: readonly [number, number],
  v: Uint8Array,
): void {
  b.set(v.subarray(0, end - start), start);
}

/**
 * The dialect of a header block, or null when its checksum is wrong (the
 * caller reports `invalid tar header`).
 */
export function detectFormat(b: Uint8Array): HeaderFormat | null {
  const p: NumParser = { bad: false };
  const stored = parseOctal(p, b, 148, 156);
  const [unsigned, signed] = computeChecksums(b);
  if (p.bad || (stored !== unsigned && stored !== signed)) return null;
  const isUstarMagic = b[257] === 0x75 && b[258] === 0x73 && b[259] === 0x74 &&
    b[260] === 0x61 && b[261] === 0x72;
  if (isUstarMagic && b[262] === 0) {
    if (b[508] === 0x74 && b[509] === 0x61 && b[510] === 0x72 && b[511] === 0) return "star";
    return "ustar";
  }
  if (isUstarMagic && b[262] === 0x20 && b[263] === 0x20 && b[264] === 0) return "gnu";
  return "v7";
}

/** Fills the checksum field of a finished block ("%06o\0 "). */
export function writeChecksum(b: Uint8Array): void {
  b.fill(0x20, 148, 156);
  const [sum] = computeChecksums(b);
  formatOctal(b, [148, 155], sum);
}

// ---- PAX records ----------------------------------------------------------

/** One `key=value` PAX record; the value is raw bytes (binary xattrs stay intact). */
export interface PaxRecord {
  key: string;
  value: Uint8Array;
}

/**
 * Parses the data of a PAX `x`/`g` header: `"<len> <key>=<value>\n"` records.
 * Malformed records → `invalid tar header`.
 */
export function parsePaxRecords(data: Uint8Array): PaxRecord[] {
  const out: PaxRecord[] = [];
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp < 0 || sp === i) throw invalidHeader();
    let len = 0;
    for (let j = i; j < sp; j++) {
      const c = data[j];
      if (c < 0x30 || c > 0x39) throw invalidHeader();
      len = len * 10 + (c - 0x30);
    }
    const end = i + len;
    if (len <= sp - i + 1 || end > data.length || data[end - 1] !== 0x0a) throw invalidHeader();
    const rec = data.subarray(sp + 1, end - 1);
    const eq = rec.indexOf(0x3d);
    if (eq <= 0) throw invalidHeader();
    const keyBytes = rec.subarray(0, eq);
    if (keyBytes.includes(0)) throw invalidHeader();
    const key = decodeText(keyBytes);
    const value = rec.subarray(eq + 1);
    if (
      (key === "path" || key === "linkpath" || key === "uname" || key === "gname") &&
      value.includes(0)
    ) {
      throw invalidHeader();
    }
    out.push({ key, value });
    i = end;
  }
  return out;
}

/** Encodes one PAX record; the length prefix counts itself. */
export function encodePaxRecord(key: string, value: Uint8Array): Uint8Array {
  const k = encodeText(key);
  const body = 1 + k.length + 1 + value.length + 1; // " " key "=" value "\n"
  let len = body + String(body).length;
  if (String(len).length !== String(body).length) len = body + String(len).length;
  const head = encodeText(`${len} `);
  const out = new Uint8Array(len);
  out.set(head, 0);
  out.set(k, head.length);
  out[head.length + k.length] = 0x3d;
  out.set(value, head.length + k.length + 1);
  out[len - 1] = 0x0a;
  return out;
}

/** A PAX time `"<sec>[.<frac>]"` as normalised seconds and nanoseconds (nsec in [0, 1e9)). */
export function parsePaxTime(s: string): { sec: number; nsec: number } {
  const m = /^([+-]?\d+)(?:\.(\d*))?$/.exec(s);
  if (!m) throw invalidHeader();
  let sec = Number(m[1]);
  const frac = (m[2] ?? "").slice(0, 9).padEnd(9, "0");
  let nsec = Number(frac);
  if (m[1].startsWith("-") && nsec > 0) {
    // "-1.5" is 1.5 s before the epoch: -2 s + 0.5 s.
    sec -= 1;
    nsec = 1e9 - nsec;
  }
  if (!Number.isSafeInteger(sec)) throw invalidHeader();
  return { sec, nsec };
}

/** Formats a time for PAX: fraction without trailing zeros, none when 0 (Go's layout). */
export function formatPaxTime(sec: number, nsec: number): string {
  if (nsec === 0) return String(sec);
  let s = sec;
  let n = nsec;
  let sign = "";
  if (s < 0) {
    // Written as a negative decimal: -2 s + 0.5 s is "-1.5".
    sign = "-";
    s = -(s + 1);
    n = 1e9 - n;
  }
  return `${sign}${s}.${String(n).padStart(9, "0").replace(/0+$/, "")}`;
}

/** Type flags that never carry content, whatever their size field says. */
export function isHeaderOnlyType(type: string): boolean {
  return type === "1" || type === "2" || type === "3" || type === "4" || type === "5" ||
    type === "6";
}
