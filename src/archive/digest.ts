/**
 * SHA-256 and byte count of everything that flows through a stream, in one
 * pass (the layer store records both for the compressed and the
 * uncompressed form of every applied diff).
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";
import type { ByteInput } from "./byte_source.ts";

/** Result of a digesting pass. */
export interface DigestResult {
  /** `sha256:<64 hex digits>`. */
  digest: string;
  /** Bytes seen. */
  size: number;
}

/** Incremental SHA-256 plus byte count. */
export class DigestCounter {
  #hash: Hash = createHash("sha256");
  #size = 0;
  #result: DigestResult | null = null;

  /** Adds bytes. */
  update(chunk: Uint8Array): void {
    if (this.#result) throw new Error("digest already finished");
    this.#hash.update(chunk);
    this.#size += chunk.length;
  }

  /** Bytes seen so far. */
  get size(): number {
    return this.#size;
  }

  /** Finishes (idempotent) and returns `sha256:<hex>` and the size. */
  result(): DigestResult {
    this.#result ??= { digest: `sha256:${this.#hash.digest("hex")}`, size: this.#size };
    return this.#result;
  }
}

/** Yields the chunks of `input` unchanged while feeding them to `counter`. */
export async function* digestChunks(
  input: ByteInput,
  counter: DigestCounter,
): AsyncGenerator<Uint8Array> {
  for await (const chunk of input) {
    counter.update(chunk);
    yield chunk;
  }
}

/**
 * A pass-through stream over `input` and a promise of the digest and size of
 * everything that went through, settled when the stream reaches its end (or
 * rejected when it fails or is cancelled).
 *
 * @example
 * ```ts
 * const { stream, done } = digestStream((await Deno.open("layer.tar")).readable);
 * await stream.pipeTo(new WritableStream());
 * console.log((await done).digest);
 * ```
 */
export function digestStream(
  input: ByteInput,
): { stream: ReadableStream<Uint8Array>; done: Promise<DigestResult> } {
  const counter = new DigestCounter();
  const { promise, resolve, reject } = Promise.withResolvers<DigestResult>();
  // Nobody may await `done`; a rejection must not become an unhandled one.
  promise.catch(() => {});
  const iter = (input instanceof ReadableStream ? input.values() : input)[Symbol.asyncIterator]();
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done } = await iter.next();
        if (done) {
          resolve(counter.result());
          controller.close();
          return;
        }
        counter.update(value);
        controller.enqueue(value);
      } catch (err) {
        reject(err);
        controller.error(err);
      }
    },
    async cancel(reason) {
      reject(reason ?? new Error("digest stream cancelled"));
      await iter.return?.();
    },
  }, { highWaterMark: 0 });
  return { stream, done: promise };
}
