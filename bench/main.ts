/**
 * `deno task bench`: cstor against Debian's Go `containers-storage`, same
 * workloads, same run, fresh stores on a fresh loop-mounted ext4, several
 * repetitions interleaved; prints a table of medians and ratios and writes a
 * JSON copy.
 *
 * ```sh
 * deno task bench                 # the full suite (root: loop mount, overlay)
 * deno task bench --quick         # tiny sizes, one repetition (what CI runs)
 * deno task bench --reps 5 --only apply,startup --out /tmp/r.json
 * ```
 * `CSTOR_BENCH_QUICK=1` is the same as `--quick`.
 *
 * @module
 */

import { join } from "node:path";
import { type BenchConfig, BenchContext, FULL, QUICK } from "./context.ts";
import { buildCorpus } from "./corpus.ts";
import { loopScratch, type Scratch, tempScratch } from "./loop_fs.ts";
import { machineInfo } from "./machine.ts";
import { probeDrivers } from "./drivers.ts";
import { run } from "./proc.ts";
import { markdown, medians, rows } from "./report.ts";
import { DENO_RUN_FLAGS, REPO } from "./sides.ts";
import { startupWorkload } from "./workloads/startup.ts";
import { listingWorkload } from "./workloads/listing.ts";
import { chainWorkload } from "./workloads/chain.ts";
import { mountWorkload } from "./workloads/mounts.ts";
import { concurrentWorkload } from "./workloads/concurrent.ts";
import { applyWorkload } from "./workloads/apply.ts";
import { readerWaitWorkload } from "./workloads/reader_wait.ts";

type Workload = (ctx: BenchContext, rep: number) => Promise<void>;

/** Every workload, in the order one repetition runs them. */
const WORKLOADS: Record<string, Workload> = {
  startup: startupWorkload,
  listing: listingWorkload,
  chain: chainWorkload,
  mounts: mountWorkload,
  concurrent: concurrentWorkload,
  apply: applyWorkload,
  reader_wait: readerWaitWorkload,
};

/** Command-line options. */
export interface BenchOptions {
  quick: boolean;
  reps?: number;
  only?: string[];
  out: string;
  /** Use a temporary directory instead of a loop-mounted ext4 (no root needed). */
  noLoop: boolean;
}

/** Parses `args` (`--quick`, `--reps N`, `--only a,b`, `--out FILE`, `--no-loop`). */
export function parseOptions(args: string[], env: { quick?: string } = {}): BenchOptions {
  const opts: BenchOptions = {
    quick: env.quick === "1" || env.quick === "true",
    out: join(REPO, "bench", "results", "latest.json"),
    noLoop: false,
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const value = (): string => {
      if (i + 1 >= args.length) throw new Error(`${a} needs a value`);
      return args[++i];
    };
    if (a === "--quick") opts.quick = true;
    else if (a === "--no-loop") opts.noLoop = true;
    else if (a === "--reps") opts.reps = Number(value());
    else if (a === "--only") opts.only = value().split(",");
    else if (a === "--out") opts.out = value();
    else throw new Error(`unknown option ${a}`);
  }
  for (const w of opts.only ?? []) {
    if (!(w in WORKLOADS)) throw new Error(`unknown workload ${w}: ${Object.keys(WORKLOADS)}`);
  }
  return opts;
}

function isRoot(): boolean {
  return Deno.uid() === 0;
}

/** Runs the suite; returns the exit code. */
export async function bench(opts: BenchOptions): Promise<number> {
  const config: BenchConfig = { ...(opts.quick ? QUICK : FULL) };
  if (opts.reps !== undefined) config.reps = opts.reps;
  const began = performance.now();
  const machine = await machineInfo();
  const scratch: Scratch = isRoot() && !opts.noLoop
    ? await loopScratch(config.scratchGiB)
    : await tempScratch();
  const onSignal = (): void => {
    scratch.cleanup().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    console.error(`[bench] scratch: ${scratch.dir} (${scratch.kind})`);
    const inputDir = join(scratch.dir, "input");
    await Deno.mkdir(inputDir);
    const corpus = await buildCorpus(inputDir, config.corpus);
    console.error(
      `[bench] layer: ${corpus.tarBytes} bytes (gzip ${corpus.gzBytes}), ${corpus.files} files, ` +
        `${corpus.dirs} dirs, ${corpus.symlinks} symlinks`,
    );
    const ctx = new BenchContext(config, scratch, corpus, { cstor: ["vfs"], go: ["vfs"] });
    // Fill Deno's module cache so no measured call compiles anything.
    await run([Deno.execPath(), ...DENO_RUN_FLAGS, join(REPO, "cli.ts"), "version"]);
    await probeDrivers(ctx);
    const names = Object.keys(WORKLOADS).filter((w) => !opts.only || opts.only.includes(w));
    for (let rep = 0; rep < config.reps; rep++) {
      for (const name of names) {
        const t = performance.now();
        try {
          await WORKLOADS[name](ctx, rep);
        } catch (err) {
          // One broken workload should not cost the whole run its table.
          ctx.fail(`${name}, repetition ${rep + 1}: ${(err as Error)?.stack ?? String(err)}`);
        }
        ctx.log(
          `rep ${rep + 1}/${config.reps} ${name}: ${((performance.now() - t) / 1000).toFixed(1)} s`,
        );
      }
    }
    const m = medians(ctx.samples);
    const table = rows(m, ctx);
    const date = new Date().toISOString();
    const notes = [
      `${date.slice(0, 10)}, ${machine.cpu}, ${machine.cores} cores, ${machine.memGiB} GiB, ` +
      `Linux ${machine.kernel}, Deno ${machine.deno}, ${machine.goCli}.`,
      `Stores of both sides on a ${scratch.kind}; every workload on fresh stores; ` +
      `${config.reps} repetitions, sides alternating first; medians (peak memory and reader ` +
      `wait: worst repetition).`,
      `cstor runs as \`deno run --no-check --allow-read --allow-write --allow-run=mount,umount ` +
      `--allow-ffi --allow-env cli.ts\` (the \`cli\` permission set as flags; no type check).`,
      `"adjusted" = (cstor − calls × (deno hello − Go version)) / Go: the ratio once the ` +
      `difference of the two startup floors is taken off each CLI call (for the concurrent ` +
      `creates: all calls' difference divided by min(workers, cores)).`,
      `Layer: ${corpus.files} files, ${corpus.dirs} dirs, ${corpus.symlinks} symlinks from /usr, ` +
      `GNU tar format; gzip -6.`,
    ];
    const text = `${markdown(table)}\n\n${notes.map((n) => `- ${n}`).join("\n")}\n`;
    console.log(text);
    if (ctx.failures.length) {
      console.log(`Failures:\n${ctx.failures.map((f) => `- ${f}`).join("\n")}`);
    }
    await Deno.mkdir(join(opts.out, ".."), { recursive: true });
    await Deno.writeTextFile(
      opts.out,
      JSON.stringify(
        {
          date,
          machine,
          config,
          scratch: scratch.kind,
          scratchDir: scratch.dir,
          corpus,
          drivers: ctx.drivers,
          seconds: (performance.now() - began) / 1000,
          medians: m,
          rows: table,
          notes,
          failures: ctx.failures,
          samples: ctx.samples,
        },
        null,
        2,
      ) + "\n",
    );
    console.error(
      `[bench] ${opts.out}; ${((performance.now() - began) / 1000).toFixed(0)} s in all`,
    );
    return ctx.failures.length ? 1 : 0;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    // A failed cleanup is reported, without hiding an error that got us here.
    await scratch.cleanup().catch((err) =>
      console.error(`[bench] cleaning up ${scratch.dir} failed: ${err}`)
    );
  }
}

if (import.meta.main) {
  const opts = parseOptions(Deno.args, { quick: Deno.env.get("CSTOR_BENCH_QUICK") });
  Deno.exit(await bench(opts));
}
