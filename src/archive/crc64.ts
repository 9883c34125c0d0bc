/**
 * CRC-64/GO-ISO (Go's `crc64.Checksum` with the ISO table): reflected
 * polynomial 0xD800000000000000, initial value and final XOR all ones. The
 * check value of "123456789" is 0xB90956C775A41001. tar-split stores it per
 * file, so it runs over every byte of every layer: table-driven, eight
 * bytes per step in JS ("slicing-by-8", the 64-bit state as two u32 halves,
 * no BigInt in the loop) and sixteen per step in a small WebAssembly
 * function for inputs of 256 bytes and more.
 *
 * @module
 */

/** High half of the reflected polynomial 0xD800000000000000 (the low half is 0). */
const POLY_HI = 0xd8000000;

/**
 * Eight tables of 256 entries, split into low and high u32 halves: table k
 * holds the CRC of a byte followed by k zero bytes.
 */
const TL = new Uint32Array(8 * 256);
const TH = new Uint32Array(8 * 256);
for (let i = 0; i < 256; i++) {
  let lo = i;
  let hi = 0;
  for (let j = 0; j < 8; j++) {
    const carry = lo & 1;
    lo = ((lo >>> 1) | (hi << 31)) >>> 0;
    hi = hi >>> 1;
    if (carry) hi = (hi ^ POLY_HI) >>> 0;
  }
  TL[i] = lo;
  TH[i] = hi;
}
for (let k = 1; k < 8; k++) {
  for (let i = 0; i < 256; i++) {
    const plo = TL[(k - 1) * 256 + i];
    const phi = TH[(k - 1) * 256 + i];
    const idx = plo & 0xff;
    TL[k * 256 + i] = (((plo >>> 8) | (phi << 24)) ^ TL[idx]) >>> 0;
    TH[k * 256 + i] = ((phi >>> 8) ^ TH[idx]) >>> 0;
  }
}

/** Word loads through a Uint32Array read bytes in little-endian order only on LE hosts. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Register state shared with the hot loop (a plain object keeps V8 on its fast path). */
interface State {
  lo: number;
  hi: number;
}

function fold(st: State, b: Uint8Array): void {
  let lo = st.lo;
  let hi = st.hi;
  let i = 0;
  const n = b.length;
  if (LITTLE_ENDIAN && n >= 64) {
    // Bytes up to a 4-byte boundary, then 8 bytes per step as two u32 loads.
    while (((b.byteOffset + i) & 3) !== 0) {
      const idx = (lo ^ b[i]) & 0xff;
      lo = ((lo >>> 8) | (hi << 24)) ^ TL[idx];
      hi = (hi >>> 8) ^ TH[idx];
      i++;
    }
    const pairs = (n - i) >>> 3;
    const w = new Uint32Array(b.buffer, b.byteOffset + i, pairs * 2);
    for (let j = 0; j < w.length; j += 2) {
      const a = lo ^ w[j];
      const c = hi ^ w[j + 1];
      // Byte m of the 8-byte block goes through table 7-m.
      const i0 = 1792 + (a & 0xff);
      const i1 = 1536 + ((a >>> 8) & 0xff);
      const i2 = 1280 + ((a >>> 16) & 0xff);
      const i3 = 1024 + (a >>> 24);
      const i4 = 768 + (c & 0xff);
      const i5 = 512 + ((c >>> 8) & 0xff);
      const i6 = 256 + ((c >>> 16) & 0xff);
      const i7 = c >>> 24;
      lo = TL[i0] ^ TL[i1] ^ TL[i2] ^ TL[i3] ^ TL[i4] ^ TL[i5] ^ TL[i6] ^ TL[i7];
      hi = TH[i0] ^ TH[i1] ^ TH[i2] ^ TH[i3] ^ TH[i4] ^ TH[i5] ^ TH[i6] ^ TH[i7];
    }
    i += pairs * 8;
  }
  for (; i < n; i++) {
    const idx = (lo ^ b[i]) & 0xff;
    lo = ((lo >>> 8) | (hi << 24)) ^ TL[idx];
    hi = (hi >>> 8) ^ TH[idx];
  }
  st.lo = lo >>> 0;
  st.hi = hi >>> 0;
}

// ---- WebAssembly slicing-by-16 ----------------------------------------------
//
// The same algorithm over 16 bytes per step with 64-bit loads runs at about
// twice the speed of the JS loop (≈1.4 GB/s against ≈0.8 GB/s here). The
// module is assembled below from its instructions, so the source is readable
// and nothing opaque is embedded. Memory layout: [0, 8) result, [64, 32832)
// sixteen i64 tables of 256 entries (table k at 64 + k·2048), then the input.

const W_RESULT = 0;
const W_TABLES = 64;
const W_DATA = W_TABLES + 16 * 256 * 8;
const W_PAGES = 18;
/** Input bytes per call (fits the memory after the tables). */
const W_CHUNK = 1 << 20;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

/**
 * `update(lo: i32, hi: i32, len: i32)`: folds `len` bytes at W_DATA into the
 * register (lo, hi) and stores the new register as an i64 at W_RESULT.
 * Locals: 0 lo, 1 hi, 2 len | 3 p, 4 end16, 5 end (i32) | 6 crc, 7 a, 8 b (i64).
 */
function crcModule(): Uint8Array {
  const get = (i: number) => [0x20, i];
  const set = (i: number) => [0x21, i];
  const i32 = (n: number) => [0x41, ...sleb(n)];
  const i64small = (n: number) => [0x42, ...sleb(n)];
  const [add, and, shl, xor32, geU, wrap, extendU] = [0x6a, 0x71, 0x74, 0x73, 0x4f, 0xa7, 0xad];
  const [xor64, shrU64, shl64, or64] = [0x85, 0x88, 0x86, 0x84];
  const load64 = (offset: number) => [0x29, 3, ...uleb(offset)];
  const load8 = [0x2d, 0, 0];
  const store64 = [0x37, 3, 0];
  // T[k][(v >> shift) & 0xff] for local v.
  const lookup = (v: number, k: number, shift: number) => [
    ...get(v),
    ...(shift ? [...i64small(shift), shrU64] : []),
    wrap,
    ...i32(255),
    and,
    ...i32(3),
    shl,
    ...load64(W_TABLES + k * 2048),
  ];
  const step16: number[] = [
    // a = crc ^ load64(p); b = load64(p + 8)
    ...get(6),
    ...get(3),
    ...load64(0),
    xor64,
    ...set(7),
    ...get(3),
    ...load64(8),
    ...set(8),
    // crc = T15[a0] ^ … ^ T8[a7] ^ T7[b0] ^ … ^ T0[b7]
    ...lookup(7, 15, 0),
  ];
  for (let j = 1; j < 8; j++) step16.push(...lookup(7, 15 - j, 8 * j), xor64);
  for (let j = 0; j < 8; j++) step16.push(...lookup(8, 7 - j, 8 * j), xor64);
  step16.push(...set(6), ...get(3), ...i32(16), add, ...set(3));
  const step1 = [
    // crc = (crc >> 8) ^ T0[(crc ^ byte) & 0xff]
    ...get(6),
    ...i64small(8),
    shrU64,
    ...get(6),
    wrap,
    ...get(3),
    ...load8,
    xor32,
    ...i32(255),
    and,
    ...i32(3),
    shl,
    ...load64(W_TABLES),
    xor64,
    ...set(6),
    ...get(3),
    ...i32(1),
    add,
    ...set(3),
  ];
  const loopWhileBelow = (limit: number, body: number[]) => [
    0x02, // block
    0x40,
    0x03, // loop
    0x40,
    ...get(3),
    ...get(limit),
    geU,
    0x0d, // br_if to the block's end
    1,
    ...body,
    0x0c, // br to the loop's start
    0,
    0x0b,
    0x0b,
  ];
  const code = [
    // crc = hi << 32 | lo
    ...get(1),
    extendU,
    ...i64small(32),
    shl64,
    ...get(0),
    extendU,
    or64,
    ...set(6),
    ...i32(W_DATA),
    ...set(3),
    ...get(3),
    ...get(2),
    add,
    ...set(5),
    ...get(3),
    ...get(2),
    ...i32(-16),
    and,
    add,
    ...set(4),
    ...loopWhileBelow(4, step16),
    ...loopWhileBelow(5, step1),
    ...i32(W_RESULT),
    ...get(6),
    ...store64,
    0x0b,
  ];
  const locals = [2, 3, 0x7f, 3, 0x7e];
  const body = [...locals, ...code];
  const name = (s: string) => [s.length, ...Array.from(s, (c) => c.charCodeAt(0))];
  const section = (id: number, content: number[]) => [id, ...uleb(content.length), ...content];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, [1, 0x60, 3, 0x7f, 0x7f, 0x7f, 0]), // type: (i32, i32, i32) -> ()
    ...section(3, [1, 0]), // one function of type 0
    ...section(5, [1, 0, W_PAGES]), // memory
    ...section(7, [2, ...name("mem"), 2, 0, ...name("update"), 0, 0]),
    ...section(10, [1, ...uleb(body.length), ...body]),
  ]);
}

interface WasmCrc {
  bytes: Uint8Array;
  words: Uint32Array;
  update: (lo: number, hi: number, len: number) => void;
}

const WASM: WasmCrc | null = (() => {
  try {
    const instance = new WebAssembly.Instance(new WebAssembly.Module(crcModule() as BufferSource));
    const mem = instance.exports.mem as WebAssembly.Memory;
    const words = new Uint32Array(mem.buffer);
    // Tables 0–7 as above, 8–15 extend them the same way.
    const lo = new Uint32Array(16 * 256);
    const hi = new Uint32Array(16 * 256);
    lo.set(TL);
    hi.set(TH);
    for (let k = 8; k < 16; k++) {
      for (let i = 0; i < 256; i++) {
        const plo = lo[(k - 1) * 256 + i];
        const phi = hi[(k - 1) * 256 + i];
        const idx = plo & 0xff;
        lo[k * 256 + i] = (((plo >>> 8) | (phi << 24)) ^ TL[idx]) >>> 0;
        hi[k * 256 + i] = ((phi >>> 8) ^ TH[idx]) >>> 0;
      }
    }
    for (let i = 0; i < 16 * 256; i++) {
      words[W_TABLES / 4 + i * 2] = lo[i];
      words[W_TABLES / 4 + i * 2 + 1] = hi[i];
    }
    return {
      bytes: new Uint8Array(mem.buffer),
      words,
      update: instance.exports.update as WasmCrc["update"],
    };
  } catch {
    return null; // no WebAssembly: the JS loop does the work
  }
})();

/** Below this size the call and copy cost more than the JS loop. */
const WASM_MIN = 256;

function foldWasm(st: State, b: Uint8Array, w: WasmCrc): void {
  for (let off = 0; off < b.length; off += W_CHUNK) {
    const part = b.subarray(off, off + W_CHUNK);
    w.bytes.set(part, W_DATA);
    w.update(st.lo, st.hi, part.length);
    st.lo = w.words[W_RESULT / 4];
    st.hi = w.words[W_RESULT / 4 + 1];
  }
}

/** Incremental CRC-64/GO-ISO. */
export class Crc64 {
  // The running register (already inverted), as two halves.
  #st: State = { lo: 0xffffffff, hi: 0xffffffff };

  /** Folds more bytes in. */
  update(b: Uint8Array): this {
    if (WASM !== null && b.length >= WASM_MIN) foldWasm(this.#st, b, WASM);
    else fold(this.#st, b);
    return this;
  }

  /** The checksum so far as a 64-bit value. */
  value(): bigint {
    return (BigInt((~this.#st.hi) >>> 0) << 32n) | BigInt((~this.#st.lo) >>> 0);
  }

  /** The checksum so far as 8 big-endian bytes (the form tar-split stores). */
  digest(): Uint8Array {
    const out = new Uint8Array(8);
    const v = new DataView(out.buffer);
    v.setUint32(0, (~this.#st.hi) >>> 0);
    v.setUint32(4, (~this.#st.lo) >>> 0);
    return out;
  }
}

/** CRC-64/GO-ISO of one buffer. */
export function crc64(b: Uint8Array): bigint {
  return new Crc64().update(b).value();
}
