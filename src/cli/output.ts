/**
 * Where the CLI writes: standard output and error, as text or bytes. Tests
 * can capture both; the real CLI writes straight to the process's streams.
 *
 * @module
 */

import { goJSON } from "../go_json.ts";

/** The CLI's two output streams. */
export interface Output {
  /** Writes text to standard output. */
  stdout(text: string): void;
  /** Writes text to standard error. */
  stderr(text: string): void;
  /** Writes a byte stream to standard output (or `file` when given). */
  pipe(stream: ReadableStream<Uint8Array>): Promise<void>;
  /** Waits until everything written has been flushed. */
  flush(): Promise<void>;
  /** True when standard output is a terminal (progress lines go there only then). */
  isTerminal?(): boolean;
}

/** One JSON value as Go's encoder writes it, with its newline. */
export function jsonLine(value: unknown): string {
  return goJSON(value) + "\n";
}

const encoder = new TextEncoder();

/** Output to the process's stdout and stderr (writes are synchronous, so ordering is kept). */
export function processOutput(): Output {
  const writeAll = (w: { writeSync(p: Uint8Array): number }, bytes: Uint8Array) => {
    let off = 0;
    while (off < bytes.length) off += w.writeSync(bytes.subarray(off));
  };
  return {
    stdout: (text) => writeAll(Deno.stdout, encoder.encode(text)),
    stderr: (text) => writeAll(Deno.stderr, encoder.encode(text)),
    async pipe(stream) {
      for await (const chunk of stream) writeAll(Deno.stdout, chunk);
    },
    flush: () => Promise.resolve(),
    isTerminal: () => Deno.stdout.isTerminal(),
  };
}

/** Output captured in memory, for tests. */
export function captureOutput(): Output & { out(): string; err(): string; bytes(): Uint8Array } {
  const out: Uint8Array[] = [];
  const err: string[] = [];
  const decoder = new TextDecoder();
  return {
    stdout: (text) => out.push(encoder.encode(text)),
    stderr: (text) => err.push(text),
    async pipe(stream) {
      for await (const chunk of stream) out.push(chunk.slice());
    },
    flush: () => Promise.resolve(),
    bytes() {
      const total = out.reduce((n, c) => n + c.length, 0);
      const all = new Uint8Array(total);
      let off = 0;
      for (const c of out) {
        all.set(c, off);
        off += c.length;
      }
      return all;
    },
    out() {
      return decoder.decode(this.bytes());
    },
    err: () => err.join(""),
  };
}
