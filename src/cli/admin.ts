/**
 * Whole-store commands: status, version, wipe, shutdown.
 *
 * @module
 */

import { type Command, JSON_FLAG } from "./command.ts";
import { flagBool } from "./flags.ts";
import { jsonLine } from "./output.ts";
import { errorMessage } from "../errors.ts";
import { VERSION } from "../version.ts";

/** The whole-store commands. */
export const adminCommands: Command[] = [
  {
    name: "status",
    description: "Check on graph driver status",
    usage: "[options [...]]",
    minArgs: 0,
    maxArgs: 0,
    flags: [JSON_FLAG],
    run: async (ctx) => {
      const pairs = await (await ctx.store()).status();
      if (flagBool(ctx.flags, "json")) ctx.out.stdout(jsonLine(pairs));
      else ctx.out.stderr(pairs.map(([k, v]) => `${k}: ${v}\n`).join(""));
      return 0;
    },
  },
  {
    name: "version",
    description: "Return cstor version information",
    usage: "[options [...]]",
    minArgs: 0,
    maxArgs: 0,
    flags: [JSON_FLAG],
    run: (ctx) => {
      const pairs = [["Version", VERSION]];
      if (flagBool(ctx.flags, "json")) ctx.out.stdout(jsonLine(pairs));
      else ctx.out.stdout(pairs.map(([k, v]) => `${k}: ${v}\n`).join(""));
      return Promise.resolve(0);
    },
  },
  {
    name: "wipe",
    description: "Wipe all layers, images, and containers",
    usage: "[options [...]]",
    minArgs: 0,
    maxArgs: 0,
    flags: [JSON_FLAG],
    run: async (ctx) => {
      const json = flagBool(ctx.flags, "json");
      try {
        await (await ctx.store()).wipe();
      } catch (err) {
        if (json) ctx.out.stdout(jsonLine({}));
        else ctx.out.stderr(`wipe: ${errorMessage(err)}\n`);
        return 1;
      }
      if (json) ctx.out.stdout(jsonLine(""));
      return 0;
    },
  },
  {
    name: "shutdown",
    description: "Shut down layer storage",
    usage: "[options [...]]",
    minArgs: 0,
    maxArgs: 0,
    flags: [
      { long: "force", short: "f", kind: "bool", help: "Unmount mounted layers first" },
      JSON_FLAG,
    ],
    run: async (ctx) => {
      const json = flagBool(ctx.flags, "json");
      try {
        await (await ctx.store()).shutdown({ force: flagBool(ctx.flags, "force") });
      } catch (err) {
        if (json) ctx.out.stdout(jsonLine({}));
        else ctx.out.stderr(`shutdown: ${errorMessage(err)}\n`);
        return 1;
      }
      if (json) ctx.out.stdout(jsonLine(""));
      return 0;
    },
  },
];
