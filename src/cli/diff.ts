/**
 * Layer content commands: diff, diffsize, changes, applydiff.
 *
 * @module
 */

import { type Command, type CommandContext, JSON_FLAG } from "./command.ts";
import { flagBool, flagString } from "./flags.ts";
import { jsonLine } from "./output.ts";
import { layerInput } from "./input.ts";
import { goQuote } from "./go_quote.ts";

const KIND_WORDS = ["Modify", "Add", "Delete"];

async function diffCommand(ctx: CommandContext): Promise<number> {
  // Order on the command line does not matter: xz beats bzip2 beats gzip beats none.
  // Loaded only for this command (it brings node:zlib), not on every CLI start.
  const { Compression } = await import("../archive/compression.ts");
  let compression: number | undefined;
  if (flagBool(ctx.flags, "uncompressed")) compression = Compression.none;
  if (flagBool(ctx.flags, "gzip")) compression = Compression.gzip;
  if (flagBool(ctx.flags, "bzip2")) compression = Compression.bzip2;
  if (flagBool(ctx.flags, "xz")) compression = Compression.xz;
  const store = await ctx.store();
  const stream = await store.diff(ctx.args[0], { from: ctx.args[1], compression });
  const file = flagString(ctx.flags, "file");
  if (file) {
    // Plain synchronous writes, as for stdout: through the file's `writable`
    // every chunk was an async op and its own trip through the streams queue.
    const f = await Deno.open(file, { write: true, create: true, truncate: true });
    try {
      for await (const chunk of stream) {
        let off = 0;
        while (off < chunk.length) off += f.writeSync(chunk.subarray(off));
      }
    } finally {
      f.close();
    }
  } else {
    await ctx.out.pipe(stream);
  }
  return 0;
}

async function changesCommand(ctx: CommandContext): Promise<number> {
  const list = await (await ctx.store()).changes(ctx.args[0], ctx.args[1]);
  if (flagBool(ctx.flags, "json")) {
    ctx.out.stdout(
      jsonLine(list.length ? list.map((c) => ({ Path: c.Path, Kind: c.Kind })) : null),
    );
  } else {
    ctx.out.stdout(list.map((c) => `${KIND_WORDS[c.Kind]} ${goQuote(c.Path)}\n`).join(""));
  }
  return 0;
}

/** The layer content commands. */
export const diffCommands: Command[] = [
  {
    name: "changes",
    description: "Compare two layers",
    usage: "[options [...]] layerNameOrID [referenceLayerNameOrID]",
    minArgs: 1,
    maxArgs: 2,
    flags: [JSON_FLAG],
    run: changesCommand,
  },
  {
    name: "diffsize",
    aliases: ["diff-size"],
    description: "Compare two layers",
    usage: "[options [...]] layerNameOrID [referenceLayerNameOrID]",
    minArgs: 1,
    maxArgs: 2,
    flags: [],
    run: async (ctx) => {
      ctx.out.stdout(`${await (await ctx.store()).diffSize(ctx.args[0], ctx.args[1])}\n`);
      return 0;
    },
  },
  {
    name: "diff",
    description: "Compare two layers",
    usage: "[options [...]] layerNameOrID [referenceLayerNameOrID]",
    minArgs: 1,
    maxArgs: 2,
    flags: [
      { long: "file", short: "f", kind: "string", help: "Write to file instead of stdout" },
      { long: "uncompressed", short: "u", kind: "bool", help: "Use no compression" },
      { long: "gzip", short: "c", kind: "bool", help: "Compress using gzip" },
      {
        long: "bzip2",
        aliases: ["bz2"],
        short: "b",
        kind: "bool",
        help: "Compress using bzip2 (not currently supported)",
      },
      { long: "xz", short: "x", kind: "bool", help: "Compress using xz (not currently supported)" },
    ],
    run: diffCommand,
  },
  {
    name: "applydiff",
    aliases: ["apply-diff"],
    description: "Apply a diff to a layer",
    usage: "[options [...]] layerNameOrID [referenceLayerNameOrID]",
    minArgs: 1,
    maxArgs: 1,
    flags: [{ long: "file", short: "f", kind: "string", help: "Read from file instead of stdin" }],
    run: async (ctx) => {
      const store = await ctx.store();
      await store.applyDiff(ctx.args[0], await layerInput(ctx, flagString(ctx.flags, "file")));
      return 0;
    },
  },
];
