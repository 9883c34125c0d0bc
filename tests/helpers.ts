/**
 * Shared test helpers: temporary stores, running the cstor CLI (in-process
 * or as a real process) and the Go `containers-storage` CLI.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { main } from "../src/cli/main.ts";
import { captureOutput } from "../src/cli/output.ts";

/** The repository root. */
export const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** A scratch store: graph and run roots in a fresh temporary directory. */
export interface TempStore {
  dir: string;
  graph: string;
  run: string;
  /** The driver the flags select. */
  driver: string;
  /** Global flags selecting this store and its driver. */
  flags: string[];
  cleanup(): Promise<void>;
}

/** Makes a fresh temporary store directory. */
export async function tempStore(driver = "vfs"): Promise<TempStore> {
  const dir = await Deno.makeTempDir({ prefix: "cstor-test-" });
  const graph = join(dir, "graph");
  const run = join(dir, "run");
  return {
    dir,
    graph,
    run,
    driver,
    flags: ["--graph", graph, "--run", run, "--storage-driver", driver],
    async cleanup() {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** What a CLI run produced. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  bytes: Uint8Array;
}

/** Runs the cstor CLI in this process (fast; same lock registry as the test). */
export async function cli(args: string[], stdin?: Uint8Array | string): Promise<RunResult> {
  const out = captureOutput();
  const input = typeof stdin === "string"
    ? new TextEncoder().encode(stdin)
    : stdin ?? new Uint8Array();
  const code = await main(args, { out, stdin: () => ReadableStream.from([input]) });
  return { code, stdout: out.out(), stderr: out.err(), bytes: out.bytes() };
}

/** Runs a command and collects its output. */
export async function run(
  cmd: string,
  args: string[],
  options: { stdin?: Uint8Array | string; env?: Record<string, string>; cwd?: string } = {},
): Promise<RunResult> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: options.env,
    cwd: options.cwd,
  }).spawn();
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(
      typeof options.stdin === "string" ? new TextEncoder().encode(options.stdin) : options.stdin,
    );
    await w.close();
  }
  const r = await child.output();
  const dec = new TextDecoder();
  return {
    code: r.code,
    stdout: dec.decode(r.stdout),
    stderr: dec.decode(r.stderr),
    bytes: r.stdout,
  };
}

/** The Deno binary running these tests. */
export const DENO = Deno.execPath();

/** Runs the cstor CLI as a separate process with the given permission flags (default: all). */
export function cstorProcess(
  args: string[],
  options: { stdin?: Uint8Array | string; permissions?: string[]; env?: Record<string, string> } =
    {},
): Promise<RunResult> {
  const perms = options.permissions ?? ["-A"];
  return run(DENO, ["run", "--no-check", ...perms, join(ROOT, "cli.ts"), ...args], options);
}

/** True when Debian's Go `containers-storage` is installed. */
export function haveGo(): boolean {
  try {
    return Deno.statSync("/usr/bin/containers-storage").isFile;
  } catch {
    return false;
  }
}

/** Runs Debian's Go `containers-storage` CLI. */
export function goCLI(args: string[], stdin?: Uint8Array | string): Promise<RunResult> {
  return run("containers-storage", args, { stdin });
}

/** True when running as root (needed for mounts, devices, chown). */
export function isRoot(): boolean {
  return Deno.uid() === 0;
}

/** Parses the single JSON value of a CLI's stdout. */
export function json(r: RunResult): unknown {
  return JSON.parse(r.stdout);
}

/**
 * Registers a test that needs something this machine may lack; without it
 * the test is reported as ignored, with the reason in its name.
 */
export function testIf(
  condition: boolean,
  reason: string,
  name: string,
  fn: (t: Deno.TestContext) => Promise<void> | void,
): void {
  Deno.test({ name: condition ? name : `${name} [skipped: ${reason}]`, ignore: !condition, fn });
}

/** Why Go interop tests cannot run here, or undefined when they can. */
export const NO_GO = "Debian's containers-storage is not installed";

/**
 * Why the overlay driver cannot be used here, or "" when it can (asks a
 * cstor process to open an overlay store, which needs root and the kernel's
 * overlay filesystem).
 */
export async function overlayUnavailable(): Promise<string> {
  if (!isRoot()) return "overlay needs root";
  const s = await tempStore("overlay");
  try {
    const r = await cstorProcess([...s.flags, "status"]);
    return r.code === 0 ? "" : `overlay unavailable: ${(r.stdout + r.stderr).trim()}`;
  } finally {
    await s.cleanup();
  }
}
