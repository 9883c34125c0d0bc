/**
 * Identifiers: generating record IDs, checking IDs and digests, and the
 * file names big-data keys are stored under.
 *
 * @module
 */

import { StorageError } from "./errors.ts";

/**
 * A new random ID: 32 random bytes as 64 lowercase hex characters. IDs whose
 * first 12 characters are all digits are drawn again (they would look like
 * numbers), as are IDs `taken` reports as used.
 */
export function generateID(taken?: (id: string) => boolean): string {
  for (;;) {
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    const id = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    if (/^[0-9]{12}/.test(id)) continue;
    if (taken?.(id)) continue;
    return id;
  }
}

/** True for a 64-character lowercase hex ID, the form the library generates. */
export function isFullID(id: string): boolean {
  return /^[0-9a-f]{64}$/.test(id);
}

/**
 * Why `id` cannot be used as a record ID (and hence as a path component), or
 * undefined when it can. Upstream accepts any non-empty caller ID; cstor also
 * refuses the ones that would name a path outside the record's directory,
 * because IDs become directory names.
 */
export function idProblem(id: unknown): string | undefined {
  if (typeof id !== "string") return "ID is not a string";
  if (id === "") return "ID is empty";
  if (id === "." || id === "..") return `ID ${JSON.stringify(id)} is a relative path`;
  if (id.includes("/")) return `ID ${JSON.stringify(id)} contains "/"`;
  if (id.includes("\0")) return "ID contains a NUL byte";
  if (new TextEncoder().encode(id).length > 255) return "ID is longer than 255 bytes";
  return undefined;
}

/** Throws `invalid-id` when {@link idProblem} finds one. */
export function checkID(id: string): void {
  const problem = idProblem(id);
  if (problem !== undefined) throw new StorageError("invalid-id", undefined, { message: problem });
}

const DIGEST_HEX_LENGTH: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

/**
 * Why `digest` is not a valid `<algorithm>:<hex>` digest, with the Go
 * library's wording, or undefined when it is valid.
 */
export function digestProblem(digest: string): string | undefined {
  const colon = digest.indexOf(":");
  if (colon <= 0 || colon === digest.length - 1) return "invalid checksum digest format";
  const algorithm = digest.slice(0, colon);
  const hex = digest.slice(colon + 1);
  if (!/^[a-z0-9]+(?:[.+_-][a-z0-9]+)*$/.test(algorithm)) return "invalid checksum digest format";
  const want = DIGEST_HEX_LENGTH[algorithm];
  if (want === undefined) return "unsupported digest algorithm";
  if (hex.length !== want) return "invalid checksum digest length";
  if (!/^[a-f0-9]+$/.test(hex)) return "invalid checksum digest format";
  return undefined;
}

/**
 * The file name a big-data key is stored under (records.md §7): the key
 * itself when it is made of `.`, `0-9`, `a-z` (a disallowed final character
 * is tolerated, as upstream does), else `=` + padded base64 of its bytes.
 */
export function bigDataFileName(key: string): string {
  const bytes = new TextEncoder().encode(key);
  let i = 0;
  for (; i < bytes.length; i++) {
    const b = bytes[i];
    const allowed = b === 0x2e || (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x7a);
    if (!allowed) break;
  }
  // The character that stopped the scan counts as consumed; a multi-byte
  // character is consumed whole.
  if (i < bytes.length) i += utf8Length(bytes[i]);
  if (i >= bytes.length) return key;
  return "=" + base64(bytes);
}

function utf8Length(first: number): number {
  if (first < 0x80) return 1;
  if (first >= 0xf0) return 4;
  if (first >= 0xe0) return 3;
  if (first >= 0xc0) return 2;
  return 1; // invalid lead byte: Go consumes one byte
}

function base64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

/**
 * Checks a big-data key and returns its file name; refuses empty keys (as
 * upstream) and keys whose verbatim file name would not name a plain file in
 * the object's directory (`.`, `..`, or containing `/`), which upstream
 * would follow out of the directory.
 */
export function checkBigDataKey(key: string): string {
  if (key === "") throw new StorageError("invalid-big-data-name");
  const file = bigDataFileName(key);
  if (file === "." || file === ".." || file.includes("/")) {
    throw new StorageError("invalid-big-data-name", undefined, {
      message: `${JSON.stringify(key)}: not a valid name for a big data item`,
    });
  }
  return file;
}
