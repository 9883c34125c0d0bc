/**
 * A one-line progress summary of a transfer (layers done, bytes, rate), for
 * a terminal status line.
 *
 * @module
 */

import type { TransferEvent } from "./progress.ts";

/** Formats a byte count with binary units (`1.5 MiB`). */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** Folds transfer events into a status line. */
export class ProgressLine {
  #verb: string;
  #layers = 0;
  #done = 0;
  #reused = 0;
  #bytes = 0;
  #total = -1;
  #start: number;
  #now: () => number;

  /** `verb` starts the line (`Importing`); `now` is the clock in milliseconds. */
  constructor(verb: string, now: () => number = () => performance.now()) {
    this.#verb = verb;
    this.#now = now;
    this.#start = now();
  }

  /** Takes one event into account. */
  update(e: TransferEvent): void {
    switch (e.kind) {
      case "start":
        this.#layers = e.layers;
        this.#total = e.bytes;
        break;
      case "layer":
        if (e.reused) {
          this.#reused++;
          if (this.#total >= 0 && e.size >= 0) this.#total -= e.size;
        }
        break;
      case "bytes":
        this.#bytes += e.count;
        break;
      case "layer-done":
        this.#done++;
        break;
    }
  }

  /** The line as it stands. */
  text(): string {
    const seconds = Math.max((this.#now() - this.#start) / 1000, 0.001);
    const amount = this.#total >= 0
      ? `${formatBytes(this.#bytes)} / ${formatBytes(this.#total)}`
      : formatBytes(this.#bytes);
    const reused = this.#reused > 0 ? ` (${this.#reused} already present)` : "";
    return `${this.#verb}: layers ${this.#done}/${this.#layers}${reused}, ${amount}, ` +
      `${formatBytes(Math.round(this.#bytes / seconds))}/s`;
  }
}
