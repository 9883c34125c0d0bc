/**
 * The change token stored in every lock file (spec/locking.md §1.4). Only
 * byte equality matters to readers; the layout matches what containers/storage
 * writes so that a dump of a lock file means the same thing for both.
 *
 * @module
 */

/** A lock file's content: 0..64 bytes; empty means "never written". */
export type LastWrite = Uint8Array;

/** Size of every token this module writes. */
export const LAST_WRITE_SIZE = 64;

// Counts tokens made by this process, so two tokens made in the same
// nanosecond by one process still differ even before the random tail.
let counter = 0n;

/**
 * A fresh 64-byte token: u64 LE wall-clock nanoseconds, u64 LE per-process
 * counter, u32 LE process ID, 44 random bytes.
 */
export function newLastWrite(): LastWrite {
  const token = new Uint8Array(LAST_WRITE_SIZE);
  const view = new DataView(token.buffer);
  counter++;
  view.setBigUint64(0, wallClockNanos(), true);
  view.setBigUint64(8, counter, true);
  view.setUint32(16, Deno.pid >>> 0, true);
  crypto.getRandomValues(token.subarray(20));
  return token;
}

/** True when both tokens have the same length and bytes. */
export function sameLastWrite(a: LastWrite, b: LastWrite): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return false;
  }
  return true;
}

function wallClockNanos(): bigint {
  // Split before scaling: ms since 1970 times 1e6 is beyond a double's
  // exact integer range.
  const ms = performance.timeOrigin + performance.now();
  const whole = Math.trunc(ms);
  return BigInt(whole) * 1_000_000n + BigInt(Math.trunc((ms - whole) * 1e6));
}
