/**
 * What every workload gets: the sizes of this run, the scratch filesystem,
 * the big layer, which drivers each side can use, and a place to put
 * measurements.
 *
 * @module
 */

import { join } from "node:path";
import type { Corpus, CorpusSize } from "./corpus.ts";
import type { Scratch } from "./loop_fs.ts";
import { type BenchStore, benchStore, type SideName } from "./sides.ts";

/** Sizes and counts of one run. */
export interface BenchConfig {
  quick: boolean;
  reps: number;
  corpus: CorpusSize;
  scratchGiB: number;
  chainLength: number;
  listLayers: number;
  listImages: number;
  /** Calls of each listing per repetition (the median is kept). */
  listCalls: number;
  mountCycles: number;
  createWorkers: number;
  createsPerWorker: number;
  /** `status` / hello-world calls per repetition. */
  startupCalls: number;
}

/** The full suite (issue 7's sizes). */
export const FULL: BenchConfig = {
  quick: false,
  reps: 3,
  corpus: { files: 20000, bytes: 340 << 20 },
  scratchGiB: 6,
  chainLength: 300,
  listLayers: 2000,
  listImages: 1000,
  listCalls: 5,
  mountCycles: 100,
  createWorkers: 4,
  createsPerWorker: 100,
  startupCalls: 15,
};

/** Tiny sizes, one repetition: checks the suite works (CI), not the timings. */
export const QUICK: BenchConfig = {
  quick: true,
  reps: 1,
  corpus: { files: 150, bytes: 2 << 20 },
  scratchGiB: 1,
  chainLength: 4,
  listLayers: 20,
  listImages: 10,
  listCalls: 1,
  mountCycles: 2,
  createWorkers: 4,
  createsPerWorker: 3,
  startupCalls: 2,
};

/** One measurement. */
export interface Sample {
  /** Workload metric, e.g. `apply.tar`. */
  metric: string;
  /** `cstor`, `go`, `tar` or a reference such as `deno-hello`. */
  side: string;
  value: number;
  rep: number;
}

/** Shared state of a run. */
export class BenchContext {
  readonly config: BenchConfig;
  readonly scratch: Scratch;
  readonly corpus: Corpus;
  /** Drivers usable by each side (`vfs` always; `overlay` when it works). */
  readonly drivers: Record<SideName, string[]>;
  readonly samples: Sample[] = [];
  /** Problems that do not stop the run (a wrong SHA-256, missing layers). */
  readonly failures: string[] = [];
  #serial = 0;

  constructor(
    config: BenchConfig,
    scratch: Scratch,
    corpus: Corpus,
    drivers: Record<SideName, string[]>,
  ) {
    this.config = config;
    this.scratch = scratch;
    this.corpus = corpus;
    this.drivers = drivers;
  }

  /** A fresh, not yet created store for `side`. */
  store(side: SideName, driver: string, label: string): BenchStore {
    const dir = join(this.scratch.dir, "stores", `${label}-${side}-${driver}-${++this.#serial}`);
    return benchStore(side, driver, dir);
  }

  /** A fresh path on the scratch filesystem. */
  path(label: string): string {
    return join(this.scratch.dir, "work", `${label}-${++this.#serial}`);
  }

  /** Keeps one measurement. */
  record(metric: string, side: string, value: number, rep: number): void {
    this.samples.push({ metric, side, value, rep });
  }

  /** Notes a problem (shown under the table; makes the run fail). */
  fail(message: string): void {
    this.failures.push(message);
    console.error(`FAIL: ${message}`);
  }

  /** Progress on stderr. */
  log(message: string): void {
    console.error(`[bench] ${message}`);
  }
}
