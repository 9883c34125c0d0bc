/**
 * Layer compression: detection by magic bytes, and streaming decompression
 * and compression.
 *
 * Which kinds are native (in-process):
 * - gzip: `node:zlib` (both ways; multi-member streams are read whole);
 * - zstd: `node:zlib` (both ways). Decompression drives the zlib handle
 *   synchronously, one bounded output buffer per read, because the stream
 *   form of Deno's zstd decoder throws corrupt-input errors out of band
 *   (uncatchable); a frame walker over the compressed bytes reports input
 *   that ends inside a frame, which the decoder itself does not. If the
 *   handle is not reachable the `zstd` program is used instead.
 * - bzip2 and xz are not native: they run Debian's `bzip2`/`xz` programs
 *   through `Deno.Command` (needs `--allow-run=bzip2,xz`).
 *
 * Truncated input fails with `unexpected EOF`; corrupt input with a message
 * naming the format. Nothing hangs and nothing is silently cut short.
 *
 * @module
 */

import { Duplex } from "node:stream";
import * as zlib from "node:zlib";
import { StorageError } from "../errors.ts";
import { type ByteInput, unexpectedEOF } from "./byte_source.ts";

/** Compression kinds; the values are persisted in layer records (`compression`). */
export const Compression = {
  none: 0,
  bzip2: 1,
  gzip: 2,
  xz: 3,
  zstd: 4,
} as const;

/** One of the {@link Compression} values. */
export type CompressionKind = (typeof Compression)[keyof typeof Compression];

const MAGIC: [CompressionKind, number[]][] = [
  [Compression.bzip2, [0x42, 0x5a, 0x68]],
  [Compression.gzip, [0x1f, 0x8b, 0x08]],
  [Compression.xz, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  [Compression.zstd, [0x28, 0xb5, 0x2f, 0xfd]],
];

/** The compression a stream starts with, by its magic bytes; `none` otherwise. */
export function detectCompression(prefix: Uint8Array): CompressionKind {
  for (const [kind, magic] of MAGIC) {
    if (prefix.length >= magic.length && magic.every((b, i) => prefix[i] === b)) return kind;
  }
  return Compression.none;
}

/** The name Go uses for a kind in messages: `tar`, `tar.bz2`, `tar.gz`, `tar.xz`, `tar.zst`. */
export function compressionExtension(kind: CompressionKind): string {
  return ["tar", "tar.bz2", "tar.gz", "tar.xz", "tar.zst"][kind] ?? "tar";
}

function toStream(input: ByteInput): ReadableStream<Uint8Array> {
  return input instanceof ReadableStream ? input : ReadableStream.from(input);
}

function formatError(format: string, detail: string): StorageError {
  return new StorageError("invalid-input", undefined, { message: `${format}: ${detail}` });
}

/**
 * The decompressed form of `input`. Errors surface on the returned stream:
 * `unexpected EOF` for truncated input, `<format>: …` for corrupt input.
 */
export function decompress(input: ByteInput, kind: CompressionKind): ReadableStream<Uint8Array> {
  switch (kind) {
    case Compression.none:
      return toStream(input);
    case Compression.gzip:
      return pulledThroughZlib(
        toStream(input),
        zlib.createGunzip({ chunkSize: 64 * 1024 }),
        mapGzipError,
      );
    case Compression.zstd:
      return zstdHandleUsable() ? zstdDecompress(input) : runFilter("zstd", ["-dcq"], input);
    case Compression.bzip2:
      return runFilter("bzip2", ["-dc"], input);
    case Compression.xz:
      return runFilter("xz", ["-dc"], input);
    default:
      throw new StorageError("unsupported", undefined, {
        message: `unsupported compression kind ${kind}`,
      });
  }
}

/** Options for {@link compress}. */
export interface CompressOptions {
  /** Format-specific level (gzip 1–9, zstd 1–19, bzip2 1–9, xz 0–9). */
  level?: number;
}

/** The compressed form of `input`. gzip defaults to level 6 like Go's default; zstd to 3. */
export function compress(
  input: ByteInput,
  kind: CompressionKind,
  options: CompressOptions = {},
): ReadableStream<Uint8Array> {
  const level = options.level;
  switch (kind) {
    case Compression.none:
      return toStream(input);
    case Compression.gzip:
      // The web CompressionStream honours backpressure; node's zlib through
      // Duplex.toWeb here does not, and a fast producer (tar-split JSON of a
      // huge layer, a diff to a slow reader) would queue everything in
      // memory. Its fixed level is fine: any valid gzip stream will do.
      return toStream(input).pipeThrough(
        new CompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
      );
    case Compression.zstd: {
      const params: Record<number, number> = {};
      if (level !== undefined) params[zlib.constants.ZSTD_c_compressionLevel] = level;
      return throughZlib(
        toStream(input),
        zlib.createZstdCompress({ params, chunkSize: 64 * 1024 }),
        (e) => formatError("zstd", e.message),
      );
    }
    case Compression.bzip2:
      return runFilter("bzip2", ["-zc", ...(level ? [`-${level}`] : [])], input);
    case Compression.xz:
      return runFilter("xz", ["-zc", "-T1", ...(level !== undefined ? [`-${level}`] : [])], input);
    default:
      throw new StorageError("unsupported", undefined, {
        message: `unsupported compression kind ${kind}`,
      });
  }
}

/** A writable/readable pair that compresses what is written (for `pipeThrough`). */
export function compressTransform(
  kind: CompressionKind,
  options: CompressOptions = {},
): { writable: WritableStream<Uint8Array>; readable: ReadableStream<Uint8Array> } {
  const id = new TransformStream<Uint8Array, Uint8Array>();
  return { writable: id.writable, readable: compress(id.readable, kind, options) };
}

/** A writable/readable pair that decompresses what is written (for `pipeThrough`). */
export function decompressTransform(
  kind: CompressionKind,
): { writable: WritableStream<Uint8Array>; readable: ReadableStream<Uint8Array> } {
  const id = new TransformStream<Uint8Array, Uint8Array>();
  return { writable: id.writable, readable: decompress(id.readable, kind) };
}

// ---- zlib streams ----------------------------------------------------------

function mapGzipError(e: Error & { code?: string }): Error {
  if (e.code === "Z_BUF_ERROR" || /unexpected end/i.test(e.message)) return unexpectedEOF();
  if (/header check/i.test(e.message)) return formatError("gzip", "invalid header");
  if (/data check|checksum/i.test(e.message)) return formatError("gzip", "invalid checksum");
  return formatError("gzip", e.message);
}

/** Pipes a web stream through a node zlib transform, mapping its errors. */
function throughZlib(
  input: ReadableStream<Uint8Array>,
  z: zlib.Gzip | zlib.Gunzip | zlib.ZstdCompress,
  mapError: (e: Error & { code?: string }) => Error,
): ReadableStream<Uint8Array> {
  const pair = Duplex.toWeb(z) as unknown as {
    writable: WritableStream<Uint8Array>;
    readable: ReadableStream<Uint8Array>;
  };
  // Errors from the input side are passed on unchanged; zlib's are mapped.
  // Only a failed read of the input counts as an input error: pipeTo also
  // rejects when zlib itself fails, and that error must be mapped.
  let inputError: unknown = null;
  const source = input.getReader();
  const tracked = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done } = await source.read();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (err) {
        inputError ??= err;
        controller.error(err);
      }
    },
    async cancel(reason) {
      await source.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
  tracked.pipeTo(pair.writable).catch(() => {
    // Reported through the readable side.
  });
  const reader = pair.readable.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (err) {
        controller.error(inputError ?? mapError(err as Error));
      }
    },
    async cancel(reason) {
      await reader.cancel(reason).catch(() => {});
      z.destroy();
    },
  }, { highWaterMark: 0 });
}

/**
 * A node zlib transform driven with backpressure: input is written only
 * while zlib wants more (`write()` true, else wait for `drain`), output is
 * pulled through the transform's async iterator, so zlib stops inflating
 * while its output buffer is full. Duplex.toWeb ({@link throughZlib}) does
 * not pass the web stream's backpressure on: when extraction was slower
 * than inflating, a 360 MiB gzip layer's output piled up (270 MiB peak).
 */
function pulledThroughZlib(
  input: ReadableStream<Uint8Array>,
  z: zlib.Gunzip,
  mapError: (e: Error & { code?: string }) => Error,
): ReadableStream<Uint8Array> {
  let inputError: unknown = null;
  const source = input.getReader();
  const waitDrain = (): Promise<void> =>
    new Promise((resolve) => {
      const done = (): void => {
        z.off("drain", done);
        z.off("close", done);
        z.off("error", done);
        resolve();
      };
      z.on("drain", done);
      z.on("close", done);
      z.on("error", done);
    });
  (async () => {
    try {
      for (;;) {
        const { value, done } = await source.read();
        if (done) break;
        if (z.destroyed) return;
        if (!z.write(value)) await waitDrain();
      }
      if (!z.destroyed) z.end();
    } catch (err) {
      inputError ??= err;
      z.destroy(err as Error);
    }
  })();
  const output = z[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done } = await output.next();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (err) {
        controller.error(inputError ?? mapError(err as Error));
      }
    },
    async cancel(reason) {
      await source.cancel(reason).catch(() => {});
      z.destroy();
    },
  }, { highWaterMark: 0 });
}

// ---- zstd through the zlib handle -------------------------------------------

interface ZstdHandle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inOff: number,
    inLen: number,
    out: Uint8Array,
    outOff: number,
    outLen: number,
  ): void;
}

function zstdInternals(d: unknown): { handle: ZstdHandle; state: Uint32Array } | null {
  const o = d as { _handle?: { writeSync?: unknown }; _writeState?: unknown };
  if (typeof o._handle?.writeSync !== "function" || !(o._writeState instanceof Uint32Array)) {
    return null;
  }
  return { handle: o._handle as ZstdHandle, state: o._writeState };
}

let zstdUsable: boolean | null = null;

/** Whether this runtime exposes the zlib handle the native zstd path drives. */
function zstdHandleUsable(): boolean {
  if (zstdUsable === null) {
    try {
      const d = zlib.createZstdDecompress();
      zstdUsable = zstdInternals(d) !== null;
      d.destroy();
    } catch {
      zstdUsable = false;
    }
  }
  return zstdUsable;
}

const ZSTD_OUT = 128 * 1024;

function zstdDecompress(input: ByteInput): ReadableStream<Uint8Array> {
  const d = zlib.createZstdDecompress();
  const { handle, state } = zstdInternals(d)!;
  const flush = zlib.constants.ZSTD_e_continue;
  const frames = new ZstdFrameWalker();
  const iter = (input instanceof ReadableStream ? input.values() : input)[Symbol.asyncIterator]();
  let inBuf: Uint8Array = new Uint8Array(0);
  let inOff = 0;
  // After an output buffer came back full the decoder may hold more output
  // without needing input, so the next call is made before reading input.
  let outputFull = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        for (;;) {
          if (inOff >= inBuf.length && !outputFull) {
            const { value, done } = await iter.next();
            if (done) {
              if (!frames.complete()) throw unexpectedEOF();
              d.destroy();
              controller.close();
              return;
            }
            frames.feed(value);
            inBuf = value;
            inOff = 0;
            if (value.length === 0) continue;
          }
          const inLen = inBuf.length - inOff;
          const out = new Uint8Array(ZSTD_OUT);
          try {
            handle.writeSync(flush, inBuf, inOff, inLen, out, 0, ZSTD_OUT);
          } catch (err) {
            throw formatError(
              "zstd",
              (err as Error).message.replace(/^Zstd decompress error: /, ""),
            );
          }
          const availOut = state[0];
          const availIn = state[1];
          const produced = ZSTD_OUT - availOut;
          inOff += inLen - availIn;
          outputFull = availOut === 0;
          if (produced > 0) {
            controller.enqueue(out.subarray(0, produced));
            return;
          }
          if (inLen > 0 && availIn === inLen) throw formatError("zstd", "decoder made no progress");
        }
      } catch (err) {
        d.destroy();
        await iter.return?.().catch(() => {});
        controller.error(err);
      }
    },
    async cancel() {
      d.destroy();
      await iter.return?.().catch(() => {});
    },
  }, { highWaterMark: 0 });
}

/**
 * Follows zstd frame boundaries in the compressed bytes (frame header, block
 * headers, checksum; skippable frames) without decoding anything, so that
 * input ending inside a frame can be reported.
 */
class ZstdFrameWalker {
  /** Bytes still to skip before the next field. */
  #skip = 0;
  /** Field being gathered and how many bytes it needs. */
  #field: "magic" | "fhd" | "block" | "skipsize" = "magic";
  #need = 4;
  #have: number[] = [];
  #checksum = false;
  #frames = 0;
  #bad = false;

  feed(b: Uint8Array): void {
    let i = 0;
    while (i < b.length && !this.#bad) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, b.length - i);
        this.#skip -= n;
        i += n;
        continue;
      }
      this.#have.push(b[i++]);
      if (this.#have.length < this.#need) continue;
      this.#field = this.#next(this.#have);
      this.#have = [];
    }
  }

  #next(v: number[]): "magic" | "fhd" | "block" | "skipsize" {
    switch (this.#field) {
      case "magic": {
        const m = (v[0] | (v[1] << 8) | (v[2] << 16) | (v[3] << 24)) >>> 0;
        if (m === 0xfd2fb528) {
          this.#frames++;
          this.#need = 1;
          return "fhd";
        }
        if ((m & 0xfffffff0) >>> 0 === 0x184d2a50) {
          this.#need = 4;
          return "skipsize";
        }
        this.#bad = true; // not zstd: the decoder reports it
        return "magic";
      }
      case "skipsize":
        this.#skip = (v[0] | (v[1] << 8) | (v[2] << 16) | (v[3] << 24)) >>> 0;
        this.#need = 4;
        return "magic";
      case "fhd": {
        const d = v[0];
        const fcsFlag = d >> 6;
        const single = (d >> 5) & 1;
        this.#checksum = ((d >> 2) & 1) === 1;
        const dictLen = [0, 1, 2, 4][d & 3];
        const fcsLen = fcsFlag === 0 ? single : [0, 2, 4, 8][fcsFlag];
        this.#skip = (single ? 0 : 1) + dictLen + fcsLen;
        this.#need = 3;
        return "block";
      }
      case "block": {
        const h = v[0] | (v[1] << 8) | (v[2] << 16);
        const last = h & 1;
        const type = (h >> 1) & 3;
        const size = h >>> 3;
        this.#skip = type === 1 ? 1 : size;
        if (!last) {
          this.#need = 3;
          return "block";
        }
        if (this.#checksum) this.#skip += 4;
        this.#need = 4;
        return "magic";
      }
    }
  }

  /** True when the input so far ends exactly after a complete frame. */
  complete(): boolean {
    return this.#bad ||
      (this.#frames > 0 && this.#field === "magic" && this.#have.length === 0 && this.#skip === 0);
  }
}

// ---- external programs -----------------------------------------------------

/**
 * Runs `cmd args`, feeding `input` to its stdin and streaming its stdout.
 * A non-zero exit errors the stream after the last output byte.
 */
function runFilter(cmd: string, args: string[], input: ByteInput): ReadableStream<Uint8Array> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(cmd, {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (err) {
    throw new StorageError("unsupported", undefined, {
      message: `${cmd}: cannot run the ${cmd} program: ${(err as Error).message}`,
      cause: err,
    });
  }
  let inputError: unknown = null;
  const feeding = toStream(input).pipeTo(child.stdin).catch((err) => {
    // A program that exits early closes its stdin; its exit status says why.
    if (!(err instanceof Deno.errors.BrokenPipe)) {
      inputError ??= err;
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
  });
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done } = await reader.read();
        if (!done) {
          controller.enqueue(value);
          return;
        }
        await feeding;
        const status = await child.status;
        const text = (await stderr).trim();
        if (inputError) throw inputError;
        if (!status.success) {
          if (/unexpected(ly)? end|ends unexpectedly/i.test(text)) throw unexpectedEOF(cmd);
          throw formatError(cmd, programMessage(text) || `exit status ${status.code}`);
        }
        controller.close();
      } catch (err) {
        controller.error(err);
      }
    },
    async cancel(reason) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
      await reader.cancel(reason).catch(() => {});
      await child.status;
    },
  }, { highWaterMark: 0 });
}

/** The first line of a program's complaint without its "prog: (stdin): " prefixes. */
function programMessage(stderr: string): string {
  const line = stderr.split("\n").find((l) => l.trim() !== "") ?? "";
  return line.replace(/^(\S*(bzip2|xz|zstd):\s*)+/, "").replace(/^\(stdin\):\s*/, "").trim();
}
