/**
 * The input side of ApplyDiff (spec: layers-and-diffs §2, steps 1–4) in one
 * pass with bounded memory: sniff the compression, hash the raw input,
 * decompress, hash the decompressed stream to its very end, and hand the
 * decompressed bytes to a tar reader.
 *
 * @module
 */

import { type ByteReader, ByteSource } from "./byte_source.ts";
import { Compression, type CompressionKind, decompress, detectCompression } from "./compression.ts";
import { DigestCounter } from "./digest.ts";
import { readTar, type StreamTarReader } from "./tar_reader.ts";

/** How much of the input the compression sniffing looks at (Go's 10240-byte read). */
export const SNIFF_SIZE = 10240;

/** Go's ApplyDiff reads the decompressed stream through a bufio.Reader of this size. */
const GO_BUFIO_SIZE = 32 * 1024;

/**
 * A layer diff to apply: a stream, or a reader such as a `Deno.FsFile`,
 * which is read directly in 1 MiB reads (several times faster).
 */
export type LayerInput = ReadableStream<Uint8Array> | ByteReader;

/** Digests and sizes of an applied diff. */
export interface LayerStreamResult {
  compressedDigest: string;
  compressedSize: number;
  uncompressedDigest: string;
  uncompressedSize: number;
}

/** An opened layer stream: its compression, a tar reader over its content, and the totals. */
export interface LayerStream {
  /** The detected {@link Compression} value. */
  compression: CompressionKind;
  /** Reader over the decompressed tar stream. */
  tar: StreamTarReader;
  /**
   * Reads whatever the consumer left (after the archive's end: drain
   * `tar.rest()` first if it must be recorded) to the end of the input, and
   * returns both digests and sizes. Call after the tar reader returned null.
   */
  finish(): Promise<LayerStreamResult>;
  /** Abandons the input (after a failure). */
  cancel(reason?: unknown): Promise<void>;
}

/**
 * Opens a layer diff for applying. One read of up to {@link SNIFF_SIZE}
 * bytes decides the compression (more reads only if it returned fewer than
 * the 6 bytes the longest magic needs); those bytes are put back in front.
 * For uncompressed input both digests are the same and computed once.
 * A `Deno.FsFile` (or `Deno.stdin`) can be passed as it is: read directly
 * in 1 MiB reads it goes several times faster than through its `readable`.
 *
 * @example
 * ```ts
 * const layer = await openLayerStream((await Deno.open("layer.tar.gz")).readable);
 * for (let e = await layer.tar.next(); e; e = await layer.tar.next()) { /* extract *\/ }
 * for await (const _ of layer.tar.rest()) { /* trailing bytes *\/ }
 * const { uncompressedDigest } = await layer.finish();
 * ```
 */
export async function openLayerStream(input: LayerInput): Promise<LayerStream> {
  const raw = new ByteSource(input);
  const first = await raw.readUpTo(SNIFF_SIZE);
  let sniffed: Uint8Array = first ?? new Uint8Array(0);
  if (first !== null && first.length < 6) {
    const parts = [first];
    let len = first.length;
    while (len < 6) {
      const more = await raw.readUpTo(SNIFF_SIZE - len);
      if (more === null) break;
      parts.push(more);
      len += more.length;
    }
    sniffed = new Uint8Array(len);
    let off = 0;
    for (const p of parts) {
      sniffed.set(p, off);
      off += p.length;
    }
  }
  raw.unread(sniffed);
  const compression = detectCompression(sniffed);

  const compressed = new DigestCounter();
  const uncompressed = compression === Compression.none ? compressed : new DigestCounter();

  // The raw source has a single reader at a time: the generator while the
  // decompressor pulls from it, then finish() for anything it left.
  const rawDone = Promise.withResolvers<void>();
  async function* rawChunks(): AsyncGenerator<Uint8Array> {
    try {
      for (;;) {
        const c = await raw.readUpTo(1 << 20);
        if (c === null) return;
        compressed.update(c);
        yield c;
      }
    } finally {
      rawDone.resolve();
    }
  }

  let decompressed: AsyncIterable<Uint8Array>;
  if (compression === Compression.none) {
    decompressed = rawChunks();
  } else {
    const stream = decompress(rawChunks(), compression);
    decompressed = (async function* () {
      for await (const c of stream) {
        uncompressed.update(c);
        yield c;
      }
    })();
  }
  const tarSource = new ByteSource(decompressed);
  const tar = readTar(tarSource, {
    // Go's read pattern is only reproducible for uncompressed input.
    restGrid: compression === Compression.none
      ? { start: sniffed.length, step: GO_BUFIO_SIZE }
      : undefined,
  });

  return {
    compression,
    tar,
    async finish(): Promise<LayerStreamResult> {
      // The digests cover everything up to EOF, also bytes nobody parsed.
      while ((await tarSource.readUpTo(1 << 20)) !== null) {
        // hashed on the way
      }
      // Decompressors read their input to its end before they end their output.
      await rawDone.promise;
      for (;;) {
        const c = await raw.readUpTo(1 << 20);
        if (c === null) break;
        compressed.update(c);
      }
      const c = compressed.result();
      const u = uncompressed.result();
      return {
        compressedDigest: c.digest,
        compressedSize: c.size,
        uncompressedDigest: u.digest,
        uncompressedSize: u.size,
      };
    },
    async cancel(reason?: unknown): Promise<void> {
      await tar.cancel(reason);
      await raw.cancel(reason);
    },
  };
}
