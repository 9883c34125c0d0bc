/**
 * CRC-64/GO-ISO (Go's `crc64.Checksum` with the ISO table): reflected
 * polynomial 0xD800000000000000, initial value and final XOR all ones. The
 * check value of "123456789" is 0xB90956C775A41001. tar-split stores it per
 * file, so it runs over every byte of every layer: the 64-bit state is kept
 * as two u32 halves (no BigInt in the loop) and bytes are folded eight at a
 * time ("slicing-by-8").
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

/** Incremental CRC-64/GO-ISO. */
export class Crc64 {
  // The running register (already inverted), as two halves.
  #st: State = { lo: 0xffffffff, hi: 0xffffffff };

  /** Folds more bytes in. */
  update(b: Uint8Array): this {
    fold(this.#st, b);
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
