/**
 * Checking blobs against their descriptors: digest and size, for whole
 * byte arrays (manifests, configs) and for streams (layers), where the
 * check happens as the bytes go by so that a bad layer fails before its
 * record is written.
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";
import { digestProblem } from "../ids.ts";
import { ImageInputError } from "./errors.ts";

/** A blob's identity as a descriptor gives it. */
export interface BlobRef {
  /** `<algorithm>:<hex>`. */
  digest: string;
  /** Byte length; negative when unknown (docker-archive compressed layers). */
  size: number;
}

/** `sha256:` + hex SHA-256 of `bytes`. */
export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** Refuses a digest that is not `<sha256|sha384|sha512>:<lowercase hex>` of the right length. */
export function checkDigest(digest: unknown, what: string): string {
  if (typeof digest !== "string") {
    throw new ImageInputError("bad-json", `${what}: digest is missing`);
  }
  const problem = digestProblem(digest);
  if (problem) throw new ImageInputError("bad-json", `${what}: ${problem}: ${digest}`);
  return digest;
}

function hasherFor(digest: string): Hash {
  return createHash(digest.slice(0, digest.indexOf(":")));
}

/** Throws unless `bytes` has the digest and size `ref` names. */
export function verifyBytes(bytes: Uint8Array, ref: BlobRef, what: string): void {
  if (ref.size >= 0 && bytes.length !== ref.size) {
    throw new ImageInputError(
      "size-mismatch",
      `${what} ${ref.digest}: size ${bytes.length} does not match the descriptor's ${ref.size}`,
    );
  }
  const actual = `${ref.digest.slice(0, ref.digest.indexOf(":"))}:${
    hasherFor(ref.digest).update(bytes).digest("hex")
  }`;
  if (actual !== ref.digest) {
    throw new ImageInputError(
      "digest-mismatch",
      `${what}: digest mismatch: expected ${ref.digest}, got ${actual}`,
    );
  }
}

/**
 * `input` passed through unchanged; the stream fails as soon as it carries
 * more bytes than `ref.size`, and at its end when the digest or size differ.
 * `onBytes` sees every chunk's length (progress).
 */
export function verifyingStream(
  input: ReadableStream<Uint8Array>,
  ref: BlobRef,
  what: string,
  onBytes?: (n: number) => void,
): ReadableStream<Uint8Array> {
  const hash = hasherFor(ref.digest);
  const algorithm = ref.digest.slice(0, ref.digest.indexOf(":"));
  let seen = 0;
  return input.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        seen += chunk.length;
        if (ref.size >= 0 && seen > ref.size) {
          throw new ImageInputError(
            "size-mismatch",
            `${what} ${ref.digest}: more than the descriptor's ${ref.size} bytes`,
          );
        }
        hash.update(chunk);
        onBytes?.(chunk.length);
        controller.enqueue(chunk);
      },
      flush() {
        if (ref.size >= 0 && seen !== ref.size) {
          throw new ImageInputError(
            "size-mismatch",
            `${what} ${ref.digest}: size ${seen} does not match the descriptor's ${ref.size}`,
          );
        }
        const actual = `${algorithm}:${hash.digest("hex")}`;
        if (actual !== ref.digest) {
          throw new ImageInputError(
            "digest-mismatch",
            `${what}: digest mismatch: expected ${ref.digest}, got ${actual}`,
          );
        }
      },
    }),
  );
}
