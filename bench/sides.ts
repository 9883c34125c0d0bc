/**
 * The two sides being compared, each a command line for one store: cstor
 * run as its users run it (`deno run` with the CLI's permissions, no type
 * check), and Debian's Go `containers-storage`.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { removeTree } from "./proc.ts";
import { unmountBelow } from "./loop_fs.ts";

/** Which implementation. */
export type SideName = "cstor" | "go";

/** The repository root. */
export const REPO: string = fileURLToPath(new URL("..", import.meta.url));

/** The Go CLI. */
export const GO_CLI = "/usr/bin/containers-storage";

/**
 * What `deno run` gets for cstor: the `cli` permission set of deno.json
 * spelled out as flags (the set itself prints an "experimental" warning on
 * every call), and no type check at run time.
 */
export const DENO_RUN_FLAGS: readonly string[] = [
  "run",
  "--no-check",
  "--config",
  join(REPO, "deno.json"),
  "--allow-read",
  "--allow-write",
  "--allow-run=mount,umount",
  "--allow-ffi",
  "--allow-env",
];

/** The start of a cstor command line (`deno run … cli.ts`). */
export function cstorPrefix(): string[] {
  return [Deno.execPath(), ...DENO_RUN_FLAGS, join(REPO, "cli.ts")];
}

/** A store of one side. */
export interface BenchStore {
  readonly side: SideName;
  readonly driver: string;
  readonly dir: string;
  readonly graph: string;
  readonly runRoot: string;
  /** The full command line for `args` on this store. */
  argv(args: string[]): string[];
  /** Unmounts what is left mounted and deletes the store. */
  remove(): Promise<void>;
}

/** A fresh store directory for `side` under `parent` (created on first use by the CLI). */
export function benchStore(side: SideName, driver: string, dir: string): BenchStore {
  const graph = join(dir, "graph");
  const runRoot = join(dir, "run");
  const global = ["--graph", graph, "--run", runRoot, "--storage-driver", driver];
  const prefix = side === "cstor" ? cstorPrefix() : [GO_CLI];
  return {
    side,
    driver,
    dir,
    graph,
    runRoot,
    argv: (args) => [...prefix, ...global, ...args],
    async remove() {
      await unmountBelow(dir);
      await removeTree(dir);
    },
  };
}

/** The two sides in the order a repetition runs them: alternating, so neither always goes first. */
export function sideOrder(rep: number): SideName[] {
  return rep % 2 === 0 ? ["cstor", "go"] : ["go", "cstor"];
}
