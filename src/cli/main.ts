/**
 * The CLI's driver: global flags, command lookup, argument checks, store
 * options, exit codes and messages exactly as spec/cli.md §1 describes.
 *
 * @module
 */

import { resolve } from "../path.ts";
import {
  flagBool,
  FlagError,
  flagHelp,
  flagList,
  type FlagSpec,
  flagString,
  parseFlags,
} from "./flags.ts";
import type { Command, CommandContext } from "./command.ts";
import type { Output } from "./output.ts";
import { openStore, type Store, type StoreOptions } from "../store.ts";
import type { ConfigEnvironment } from "../config.ts";
import { allCommands, loadCommand } from "./commands.ts";

/** The program name used in usage texts. */
export const PROGRAM = "cstor";

/** Flags every command also accepts. */
export const GLOBAL_FLAGS: FlagSpec[] = [
  { long: "run", short: "R", kind: "string", help: "Root of the runtime state tree" },
  { long: "graph", short: "g", kind: "string", help: "Root of the storage tree" },
  { long: "transient-store", kind: "bool", help: "Transient store mode" },
  {
    long: "storage-driver",
    short: "s",
    kind: "string",
    help: "Storage driver to use ($STORAGE_DRIVER)",
  },
  { long: "storage-opt", kind: "list", help: "Set storage driver options ($STORAGE_OPTS)" },
  { long: "debug", short: "D", kind: "bool", help: "Print debugging information" },
];

const STORE_FLAGS = ["graph", "run", "storage-driver", "storage-opt"];

/** What the CLI needs from its surroundings. */
export interface CliEnvironment {
  out: Output;
  stdin(): ReadableStream<Uint8Array>;
  /** Environment for storage.conf resolution. */
  configEnv?: ConfigEnvironment;
}

async function globalUsage(): Promise<string> {
  let text = `Usage: ${PROGRAM} command [options [...]]\n\nCommands:\n\n`;
  for (const c of await allCommands()) text += `  ${c.name.padEnd(30)}${c.description}\n`;
  text += `\nOptions:\n` +
    flagHelp([...GLOBAL_FLAGS, { long: "help", kind: "bool", help: "Print usage" }]);
  return text;
}

function commandUsage(c: Command): string {
  return `Usage: ${PROGRAM} ${c.name} ${c.usage}\n\n${c.description}\n\nOptions:\n` +
    flagHelp([...c.flags, ...GLOBAL_FLAGS]);
}

/** Looks a command up by name or alias. */
export function findCommand(name: string): Promise<Command | undefined> {
  return loadCommand(name);
}

/** Runs the CLI with `args`; returns the exit code. */
export async function main(args: string[], env: CliEnvironment): Promise<number> {
  const out = env.out;
  if (args.length === 0) {
    out.stdout(await globalUsage());
    return 1;
  }
  let global;
  try {
    global = parseFlags(args, GLOBAL_FLAGS);
  } catch (err) {
    const msg = (err as Error).message;
    out.stderr(`${msg}\nSee '${PROGRAM} --help'.\n`);
    out.stdout(`${msg} while parsing arguments (1)\n${await globalUsage()}`);
    return 1;
  }
  if (global.help) {
    out.stdout(await globalUsage());
    return 0;
  }
  if (global.rest.length === 0) {
    out.stdout(await globalUsage());
    return 1;
  }
  const [name, ...cmdArgs] = global.rest;
  const command = await findCommand(name);
  if (command === undefined) {
    out.stdout(`${name}: unrecognized command.\n`);
    return 1;
  }
  let parsed;
  try {
    parsed = parseFlags(cmdArgs, [...command.flags, ...GLOBAL_FLAGS]);
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    out.stderr(`${err.message}\nSee '${PROGRAM} ${command.name} --help'.\n`);
    return 125;
  }
  if (parsed.help) {
    out.stdout(commandUsage(command));
    return 125;
  }
  const positional = parsed.rest;
  if (positional.length < command.minArgs) {
    out.stdout(`${command.name}: more arguments required.\n${commandUsage(command)}`);
    return 1;
  }
  if (command.maxArgs > 0 && positional.length > command.maxArgs) {
    out.stdout(
      `${command.name}: too many arguments ([${positional.join(" ")}]).\n${commandUsage(command)}`,
    );
    return 1;
  }

  // Command flags win over global ones for the same name.
  const values = new Map(global.values);
  for (const [k, v] of parsed.values) {
    const prev = values.get(k);
    values.set(k, Array.isArray(prev) && Array.isArray(v) ? [...prev, ...v] : v);
  }
  const debug = flagBool(values, "debug");
  let store: Store | undefined;
  let storeError: unknown;
  const ctx: CommandContext = {
    args: positional,
    flags: values,
    out,
    stdin: env.stdin,
    async store() {
      if (store) return store;
      if (storeError) throw storeError;
      try {
        const opts = await storeOptions(global.seen, global.values, parsed.values, env.configEnv);
        if (debug) {
          out.stderr(`Root: ${opts.graphRoot}\nRun Root: ${opts.runRoot}\n`);
          out.stderr(
            `Driver Name: ${opts.driver ?? ""}\nDriver Options: [${
              (opts.driverOptions ?? []).join(" ")
            }]\n`,
          );
        }
        store = await openStore(opts);
        return store;
      } catch (err) {
        storeError = new StoreOpenError(err);
        throw storeError;
      }
    },
  };
  try {
    return await command.run(ctx);
  } catch (err) {
    if (err instanceof StoreOpenError) {
      out.stdout(`error initializing: ${err.message}\n`);
      return 1;
    }
    out.stderr(`${(err as Error)?.message ?? String(err)}\n`);
    if (debug && err instanceof Error && err.stack) out.stderr(`${err.stack}\n`);
    return 1;
  }
}

/** A failure to open the store (reported as `error initializing: …` on stdout). */
class StoreOpenError extends Error {
  constructor(cause: unknown) {
    super((cause as Error)?.message ?? String(cause), { cause });
  }
}

/**
 * Store options per spec/cli.md §1.2: from storage.conf unless a store flag
 * came before the command; flags after the command override either way.
 */
async function storeOptions(
  globalSeen: string[],
  globalValues: Map<string, unknown>,
  cmdValues: Map<string, unknown>,
  configEnv: ConfigEnvironment | undefined,
): Promise<StoreOptions> {
  // storage.conf handling (and its TOML parser) is loaded only when the
  // flags leave something to look up: not on every call that names the roots.
  const config = () => import("../config.ts");
  const fromFlags = globalSeen.some((f) => STORE_FLAGS.includes(f));
  let opts: StoreOptions;
  if (!fromFlags) {
    const { loadStoreConfig, systemEnvironment } = await config();
    const conf = await loadStoreConfig(configEnv ?? systemEnvironment());
    opts = {
      graphRoot: conf.graphRoot,
      runRoot: conf.runRoot,
      driver: conf.driver,
      driverPriority: conf.driverPriority,
      driverOptions: conf.driverOptions,
      transientStore: conf.transientStore,
      uidMap: conf.uidMap,
      gidMap: conf.gidMap,
    };
  } else {
    const g = globalValues as Map<string, string | string[] | boolean>;
    let graphRoot = flagString(g, "graph");
    let runRoot = flagString(g, "run");
    if (graphRoot === undefined || runRoot === undefined) {
      const { systemDefaults, systemEnvironment } = await config();
      const defaults = await systemDefaults(configEnv ?? systemEnvironment());
      graphRoot ??= defaults.graphRoot;
      runRoot ??= defaults.runRoot;
    }
    opts = {
      graphRoot,
      runRoot,
      driver: flagString(g, "storage-driver") ?? "",
      driverOptions: flagList(g, "storage-opt"),
      transientStore: flagBool(g, "transient-store"),
    };
  }
  const c = cmdValues as Map<string, string | string[] | boolean>;
  if (flagString(c, "graph") !== undefined) opts.graphRoot = flagString(c, "graph")!;
  if (flagString(c, "run") !== undefined) opts.runRoot = flagString(c, "run")!;
  if (flagString(c, "storage-driver") !== undefined) opts.driver = flagString(c, "storage-driver");
  if (c.has("storage-opt")) opts.driverOptions = flagList(c, "storage-opt");
  if (c.has("transient-store")) opts.transientStore = flagBool(c, "transient-store");
  opts.graphRoot = resolve(opts.graphRoot);
  opts.runRoot = resolve(opts.runRoot);
  return opts;
}
