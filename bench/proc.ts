/**
 * Running and timing processes for the benchmark: wall time around the
 * whole child (spawn to exit, as a user's shell would see it), optional peak
 * memory from GNU time's maximum resident set size.
 *
 * @module
 */

/** What one timed run produced. */
export interface RunOutcome {
  /** Wall time from spawn to exit, in milliseconds. */
  ms: number;
  code: number;
  stdout: string;
  stderr: string;
  /** Peak resident set size in MiB, when asked for with `peak`. */
  peakMiB?: number;
}

/** Options for {@link run}. */
export interface RunOptions {
  /** Measure peak memory through `/usr/bin/time -f %M`. */
  peak?: boolean;
  /** Fail (throw) on a non-zero exit code; default true. */
  check?: boolean;
  cwd?: string;
}

const decoder = new TextDecoder();

/** Runs `argv` to completion and times it. */
export async function run(argv: string[], options: RunOptions = {}): Promise<RunOutcome> {
  let cmd = argv;
  let peakFile: string | undefined;
  if (options.peak) {
    peakFile = await Deno.makeTempFile({ prefix: "cstor-bench-peak-" });
    cmd = ["/usr/bin/time", "-f", "%M", "-o", peakFile, ...argv];
  }
  try {
    const start = performance.now();
    const out = await new Deno.Command(cmd[0], {
      args: cmd.slice(1),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      cwd: options.cwd,
    }).output();
    const ms = performance.now() - start;
    const result: RunOutcome = {
      ms,
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
    if (peakFile) {
      // GNU time writes "Command exited with non-zero status N" first on failure.
      const lines = (await Deno.readTextFile(peakFile)).trim().split("\n");
      result.peakMiB = Number(lines[lines.length - 1]) / 1024;
    }
    if (options.check !== false && out.code !== 0) {
      throw new Error(
        `${argv.slice(0, 12).join(" ")} … exited with ${out.code}: ${result.stderr.trim()}${
          result.stdout.trim() ? ` / ${result.stdout.trim().slice(0, 500)}` : ""
        }`,
      );
    }
    return result;
  } finally {
    if (peakFile) await Deno.remove(peakFile).catch(() => {});
  }
}

/** A started process whose end can be awaited later. */
export interface Started {
  readonly startedAt: number;
  /** Resolves with the outcome when the process exits. */
  done: Promise<RunOutcome>;
}

/** Starts `argv` without waiting for it (for work that runs beside other measurements). */
export function start(argv: string[], options: RunOptions = {}): Started {
  const startedAt = performance.now();
  return { startedAt, done: run(argv, options) };
}

/** Flushes dirty pages so one run's writeback does not land in the next run's time. */
export async function sync(): Promise<void> {
  await new Deno.Command("sync").output();
}

/** Removes a directory tree, ignoring a missing one. */
export async function removeTree(path: string): Promise<void> {
  await Deno.remove(path, { recursive: true }).catch((err) => {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  });
}
