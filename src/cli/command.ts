/**
 * The shape of a CLI command and what it gets to run with.
 *
 * @module
 */

import type { FlagSpec, FlagValues } from "./flags.ts";
import type { Store } from "../store.ts";
import type { Output } from "./output.ts";

/** What a command runs with. */
export interface CommandContext {
  /** Positional arguments after the flags. */
  args: string[];
  /** Parsed flag values (command and global flags). */
  flags: FlagValues;
  /** Opens the store on first use. */
  store(): Promise<Store>;
  /** Where output goes. */
  out: Output;
  /** Standard input, for commands that read data. */
  stdin(): ReadableStream<Uint8Array>;
}

/** One command of the CLI. */
export interface Command {
  name: string;
  aliases?: string[];
  /** One-line description for the usage texts. */
  description: string;
  /** What follows the command name in its usage line, e.g. `[options [...]] layerNameOrID`. */
  usage: string;
  /** Fewest positional arguments. */
  minArgs: number;
  /** Most positional arguments; 0 means no limit (extra ones are ignored, as upstream). */
  maxArgs: number;
  /** The command's own flags (global flags are added by the parser). */
  flags: FlagSpec[];
  /** Runs the command; returns the exit code. */
  run(ctx: CommandContext): Promise<number>;
}

/** The `-j`/`--json` flag most commands have. */
export const JSON_FLAG: FlagSpec = {
  long: "json",
  short: "j",
  kind: "bool",
  help: "Prefer JSON output",
};
