/**
 * Compression whose output depends only on the bytes, not on how they were
 * cut into chunks. The store's gzip writer flushes at every chunk it is
 * given, so the same tar read twice (once from a build, once from the
 * store) can compress to different bytes. Cutting the input into pieces of
 * one fixed size first makes the output a function of the content, so a
 * layer cstor compressed once is reproduced byte for byte on export.
 *
 * @module
 */

import { compress, Compression, type CompressionKind } from "../archive/compression.ts";

/** The piece size; larger pieces mean fewer flush points and smaller output. */
export const PIECE_SIZE = 1 << 20;

/** `input` re-cut into chunks of exactly `size` bytes (the last one may be shorter). */
export function fixedChunks(
  input: ReadableStream<Uint8Array>,
  size: number = PIECE_SIZE,
): ReadableStream<Uint8Array> {
  let buf = new Uint8Array(size);
  let len = 0;
  return input.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        let off = 0;
        while (off < chunk.length) {
          const n = Math.min(size - len, chunk.length - off);
          buf.set(chunk.subarray(off, off + n), len);
          len += n;
          off += n;
          if (len === size) {
            controller.enqueue(buf);
            buf = new Uint8Array(size);
            len = 0;
          }
        }
      },
      flush(controller) {
        if (len > 0) controller.enqueue(buf.subarray(0, len));
      },
    }),
  );
}

/** `input` compressed with `kind`, the same bytes every time for the same content. */
export function stableCompress(
  input: ReadableStream<Uint8Array>,
  kind: CompressionKind,
): ReadableStream<Uint8Array> {
  return kind === Compression.none ? input : compress(fixedChunks(input), kind);
}
