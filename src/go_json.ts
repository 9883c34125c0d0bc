/**
 * JSON text exactly as Go's encoding/json writes it: compact, objects in the
 * order given, and strings escaped the Go way (`<`, `>`, `&`, U+2028 and
 * U+2029 as `\u003c` …, control characters other than `\n`, `\r`, `\t` as
 * `\u00XX`). Used for every file and every `--json` output so that cstor's
 * bytes match the Go tools'.
 *
 * @module
 */

/** A value {@link goJSON} can encode. */
export type GoJSONValue =
  | null
  | boolean
  | number
  | string
  | readonly GoJSONValue[]
  | { readonly [key: string]: GoJSONValue | undefined };

/** Encodes `value` as Go would; object keys keep their insertion order; undefined members are skipped. */
export function goJSON(value: unknown): string {
  const parts: string[] = [];
  encode(value, parts);
  return parts.join("");
}

/** A copy of `map` with its keys sorted, as Go orders map keys. */
export function sortedMap<T>(map: Record<string, T>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const key of Object.keys(map).sort(compareBytes)) out[key] = map[key];
  return out;
}

/** Byte-wise (UTF-8) ordering, as Go sorts strings. */
export function compareBytes(a: string, b: string): number {
  if (a === b) return 0;
  // For strings without surrogates, UTF-16 code unit order equals UTF-8 byte order.
  if (!/[\ud800-\udfff]/.test(a + b)) return a < b ? -1 : 1;
  const ea = new TextEncoder().encode(a);
  const eb = new TextEncoder().encode(b);
  for (let i = 0; i < Math.min(ea.length, eb.length); i++) {
    if (ea[i] !== eb[i]) return ea[i] - eb[i];
  }
  return ea.length - eb.length;
}

function encode(value: unknown, out: string[]): void {
  if (value === null || value === undefined) {
    out.push("null");
  } else if (typeof value === "string") {
    out.push(goString(value));
  } else if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError(`cannot encode ${value} as JSON`);
    out.push(String(value));
  } else if (typeof value === "boolean") {
    out.push(value ? "true" : "false");
  } else if (typeof value === "bigint") {
    out.push(value.toString());
  } else if (Array.isArray(value)) {
    out.push("[");
    value.forEach((item, i) => {
      if (i > 0) out.push(",");
      encode(item, out);
    });
    out.push("]");
  } else if (typeof value === "object") {
    out.push("{");
    let first = true;
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
      if (item === undefined) continue;
      if (!first) out.push(",");
      first = false;
      out.push(goString(key), ":");
      encode(item, out);
    }
    out.push("}");
  } else {
    throw new TypeError(`cannot encode ${typeof value} as JSON`);
  }
}

// deno-lint-ignore no-control-regex
const NEEDS_ESCAPE = /["\\\u0000-\u001f<>&\u2028\u2029\ud800-\udfff]/;

/** One string as a Go JSON string literal. */
export function goString(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return `"${s}"`;
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += "\\\\";
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x0d) out += "\\r";
    else if (c === 0x09) out += "\\t";
    else if (c < 0x20 || c === 0x3c || c === 0x3e || c === 0x26 || c === 0x2028 || c === 0x2029) {
      out += "\\u" + c.toString(16).padStart(4, "0");
    } else if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        out += s[i] + s[i + 1];
        i++;
      } else {
        out += "\\ufffd"; // lone surrogate: Go writes the replacement character
      }
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      out += "\\ufffd";
    } else {
      out += s[i];
    }
  }
  return out + '"';
}

/**
 * The current time as Go's RFC 3339 with nanoseconds, trailing zeros of the
 * fraction trimmed, in UTC (`2023-03-01T12:34:56.123456789Z`).
 */
export function nowRFC3339Nano(): string {
  // Date has millisecond resolution; performance.now() adds the sub-millisecond part.
  const ns = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
  return formatUnixNano(ns);
}

/** Formats Unix nanoseconds as Go's RFC 3339 nano form in UTC. */
export function formatUnixNano(ns: bigint): string {
  const sec = ns / 1_000_000_000n;
  const frac = ns % 1_000_000_000n;
  const base = new Date(Number(sec) * 1000).toISOString().slice(0, 19);
  if (frac === 0n) return `${base}Z`;
  return `${base}.${frac.toString().padStart(9, "0").replace(/0+$/, "")}Z`;
}

/**
 * Orders two RFC 3339 times (any offset, any fraction) chronologically;
 * unparsable values sort first.
 */
export function compareTimes(a: string, b: string): number {
  const [as, an] = timeParts(a);
  const [bs, bn] = timeParts(b);
  return as !== bs ? as - bs : an - bn;
}

function timeParts(s: string): [number, number] {
  const ms = Date.parse(s);
  if (Number.isNaN(ms)) return [-Infinity, 0];
  const frac = /\.(\d+)/.exec(s)?.[1] ?? "";
  const ns = Number((frac + "000000000").slice(0, 9));
  return [Math.floor(ms / 1000), ns];
}
