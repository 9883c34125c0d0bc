/**
 * Small statistics helpers.
 *
 * @module
 */

/** The median of `values` (NaN for none). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** The largest of `values` (NaN for none). */
export function max(values: readonly number[]): number {
  return values.length === 0 ? NaN : Math.max(...values);
}

/** A number with about three significant digits, or "–" when missing. */
export function fmt(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return "–";
  const a = Math.abs(value);
  if (a >= 100 || Number.isInteger(value)) return value.toFixed(0);
  if (a >= 10) return value.toFixed(1);
  return value.toFixed(2);
}
