/**
 * A buffered pull reader over a byte stream, for parsers that need exact
 * reads (tar headers) and large zero-copy reads (file bodies).
 *
 * Chunks handed out are views of the chunks the input produced (or, when a
 * read spans two input chunks, a fresh copy), so nothing is copied twice and
 * memory stays at about one input chunk.
 *
 * @module
 */

import { StorageError } from "../errors.ts";

/**
 * A pull reader like `Deno.FsFile` or `Deno.stdin`: reading through it
 * directly, in large reads, is several times faster than through its
 * `readable` stream (64 KiB chunks, each through the streams machinery).
 */
export interface ByteReader {
  /** Reads into `p`; resolves to the number of bytes read, or null at the end. */
  read(p: Uint8Array): Promise<number | null>;
  /** Releases the reader (called when the consumer gives up early). */
  close?(): void;
}

/** Anything the archive code accepts as a byte stream. */
export type ByteInput = ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>;

/** Size of the reads made on a {@link ByteReader}. */
const READ_SIZE = 1 << 20;

/** True for objects with a `read(p)` method (and not a stream or iterable). */
export function isByteReader(x: unknown): x is ByteReader {
  return typeof x === "object" && x !== null &&
    typeof (x as ByteReader).read === "function" && !(x instanceof ReadableStream) &&
    !(Symbol.asyncIterator in x);
}

/**
 * The chunks of a {@link ByteReader} as an iterable: each read goes into a
 * fresh buffer (handed-out views stay valid), closing the reader at the end
 * when it has `close()`.
 */
export async function* readerChunks(r: ByteReader, size = READ_SIZE): AsyncGenerator<Uint8Array> {
  try {
    let buf = new Uint8Array(size);
    for (;;) {
      const n = await r.read(buf);
      if (n === null) return;
      if (n === 0) continue;
      if (n < size / 8) {
        // Short reads (pipes) are copied out so one big buffer serves many.
        yield buf.slice(0, n);
      } else {
        yield buf.subarray(0, n);
        buf = new Uint8Array(size);
      }
    }
  } finally {
    try {
      r.close?.();
    } catch {
      // already closed
    }
  }
}

const EMPTY = new Uint8Array(0);

/** The error Go's io.ErrUnexpectedEOF would be: the input ended inside a structure. */
export function unexpectedEOF(context?: string): StorageError {
  return new StorageError("invalid-input", context, { message: "unexpected EOF" });
}

/** Buffered reader over a {@link ByteInput}. Not safe for concurrent calls. */
export class ByteSource {
  #reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  #iter: AsyncIterator<Uint8Array> | null = null;
  /** Current chunk and read position inside it. */
  #chunk: Uint8Array = EMPTY;
  #pos = 0;
  /** Bytes pushed back with {@link unread}, most recent last. */
  #stack: Uint8Array[] = [];
  #eof = false;
  #consumed = 0;

  constructor(input: ByteInput | ByteReader) {
    if (input instanceof ReadableStream) {
      this.#reader = input.getReader();
    } else if (isByteReader(input)) {
      this.#iter = readerChunks(input);
    } else {
      this.#iter = input[Symbol.asyncIterator]();
    }
  }

  /** Total bytes handed out (read or skipped) so far. */
  get consumed(): number {
    return this.#consumed;
  }

  /** Bytes buffered and not yet handed out (without reading more). */
  get buffered(): number {
    let n = this.#chunk.length - this.#pos;
    for (const c of this.#stack) n += c.length;
    return n;
  }

  /** Makes the current chunk non-empty; false at end of input. */
  async #fill(): Promise<boolean> {
    while (this.#pos >= this.#chunk.length) {
      const pushed = this.#stack.pop();
      if (pushed) {
        this.#chunk = pushed;
        this.#pos = 0;
        continue;
      }
      if (this.#eof) return false;
      let value: Uint8Array | undefined;
      let done: boolean | undefined;
      if (this.#reader) {
        ({ value, done } = await this.#reader.read());
      } else {
        ({ value, done } = await this.#iter!.next());
      }
      if (done) {
        this.#eof = true;
        this.#chunk = EMPTY;
        this.#pos = 0;
        return false;
      }
      if (!(value instanceof Uint8Array)) {
        throw new TypeError("byte stream produced a non-Uint8Array chunk");
      }
      this.#chunk = value;
      this.#pos = 0;
    }
    return true;
  }

  /**
   * Up to `max` bytes (at least 1), as a view into the current chunk; null at
   * end of input. Never waits for more input than one chunk.
   */
  async readUpTo(max: number): Promise<Uint8Array | null> {
    if (max <= 0) return EMPTY;
    if (this.#pos >= this.#chunk.length && !(await this.#fill())) return null;
    const end = Math.min(this.#chunk.length, this.#pos + max);
    const out = this.#chunk.subarray(this.#pos, end);
    this.#consumed += end - this.#pos;
    this.#pos = end;
    return out;
  }

  /**
   * `n` bytes as a view when the current chunk holds them, else null and
   * nothing consumed. Lets parsers skip an `await` in the common case.
   */
  takeSync(n: number): Uint8Array | null {
    if (this.#chunk.length - this.#pos < n) return null;
    const out = this.#chunk.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    this.#consumed += n;
    return out;
  }

  /**
   * Up to `max` bytes gathered across input chunks (fewer only at end of
   * input or when `stopAt`, an absolute offset in the stream, is reached);
   * null at end of input. For consumers that want reads shaped like a
   * blocking `read(max)` on a file.
   */
  async readCoalesced(max: number, stopAt = Infinity): Promise<Uint8Array | null> {
    const limit = stopAt > this.#consumed ? Math.min(max, stopAt - this.#consumed) : max;
    const first = await this.readUpTo(limit);
    if (first === null || first.length === limit) return first;
    const parts = [first];
    let have = first.length;
    while (have < limit) {
      const part = await this.readUpTo(limit - have);
      if (part === null) break;
      parts.push(part);
      have += part.length;
    }
    if (parts.length === 1) return first;
    const out = new Uint8Array(have);
    let off = 0;
    for (const p of parts) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  }

  /**
   * Exactly `n` bytes, or fewer only when the input ends first (like Go's
   * io.ReadFull without the error). A view when the bytes sit in one chunk.
   */
  async readFull(n: number): Promise<Uint8Array> {
    if (n <= 0) return EMPTY;
    if (this.#pos >= this.#chunk.length && !(await this.#fill())) return EMPTY;
    if (this.#chunk.length - this.#pos >= n) {
      const out = this.#chunk.subarray(this.#pos, this.#pos + n);
      this.#pos += n;
      this.#consumed += n;
      return out;
    }
    const out = new Uint8Array(n);
    let have = 0;
    while (have < n) {
      const part = await this.readUpTo(n - have);
      if (part === null) return out.subarray(0, have);
      out.set(part, have);
      have += part.length;
    }
    return out;
  }

  /** Exactly `n` bytes; throws `unexpected EOF` when the input ends first. */
  async readExact(n: number): Promise<Uint8Array> {
    const out = await this.readFull(n);
    if (out.length < n) throw unexpectedEOF();
    return out;
  }

  /** Skips up to `n` bytes; returns how many were skipped (fewer only at end of input). */
  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0) {
      const part = await this.readUpTo(left);
      if (part === null) break;
      left -= part.length;
    }
    return n - left;
  }

  /** True when no byte is left (reads ahead one chunk if needed). */
  async atEOF(): Promise<boolean> {
    return !(await this.#fill());
  }

  /**
   * Puts bytes back in front of the stream; the next reads return them
   * first. `consumed` goes back by their length.
   */
  unread(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    if (this.#pos < this.#chunk.length) this.#stack.push(this.#chunk.subarray(this.#pos));
    this.#stack.push(bytes);
    this.#chunk = EMPTY;
    this.#pos = 0;
    this.#consumed -= bytes.length;
  }

  /** Stops reading and releases the input (cancels a ReadableStream). */
  async cancel(reason?: unknown): Promise<void> {
    this.#eof = true;
    this.#chunk = EMPTY;
    this.#pos = 0;
    this.#stack = [];
    try {
      if (this.#reader) await this.#reader.cancel(reason);
      else await this.#iter?.return?.();
    } catch {
      // The input may already be errored or closed; nothing left to release.
    }
  }
}
