/**
 * Name, metadata and existence commands: get-names, add-names, set-names,
 * metadata, set-metadata, exists, delete.
 *
 * @module
 */

import { type Command, type CommandContext, JSON_FLAG } from "./command.ts";
import { flagBool, flagList, flagString } from "./flags.ts";
import { jsonLine } from "./output.ts";
import { sortedMap } from "../go_json.ts";
import { perArgument } from "./layers.ts";
import { StorageError } from "../errors.ts";

const NAME_FLAG = { long: "name", short: "n", kind: "list" as const, help: "New name" };

async function changeNames(ctx: CommandContext, add: boolean): Promise<number> {
  const store = await ctx.store();
  const names = flagList(ctx.flags, "name");
  const result = add
    ? await store.addNames(ctx.args[0], names)
    : await store.setNames(ctx.args[0], names);
  if (flagBool(ctx.flags, "json")) ctx.out.stdout(jsonLine(result.length ? result : null));
  return 0;
}

async function metadata(ctx: CommandContext): Promise<number> {
  const store = await ctx.store();
  const json = flagBool(ctx.flags, "json");
  const quiet = flagBool(ctx.flags, "quiet");
  const found: Record<string, string> = {};
  let missing = false;
  let text = "";
  for (const arg of ctx.args) {
    const md = await store.metadata(arg);
    const shown = (md ?? "").replace(/\n$/, "");
    if (md === undefined) missing = true;
    else found[arg] = shown;
    text += quiet ? `${shown}\n` : `${arg}: ${shown}\n`;
  }
  ctx.out.stdout(json ? jsonLine(sortedMap(found)) : text);
  return missing ? 1 : 0;
}

async function setMetadata(ctx: CommandContext): Promise<number> {
  let md = flagString(ctx.flags, "metadata");
  const file = flagString(ctx.flags, "metadata-file");
  if (file !== undefined) md = await Deno.readTextFile(file);
  if (md === undefined) {
    throw new StorageError("invalid-input", undefined, { message: "no new metadata provided" });
  }
  await (await ctx.store()).setMetadata(ctx.args[0], md);
  return 0;
}

async function existsCommand(ctx: CommandContext): Promise<number> {
  const store = await ctx.store();
  const wantLayer = flagBool(ctx.flags, "layer");
  const wantImage = flagBool(ctx.flags, "image");
  const wantContainer = flagBool(ctx.flags, "container");
  const any = !wantLayer && !wantImage && !wantContainer;
  const result: Record<string, boolean> = {};
  let code = 0;
  let text = "";
  for (const arg of ctx.args) {
    const e = await store.exists(arg);
    const present = e.layer || e.image || e.container;
    result[arg] = present;
    const ok = any
      ? present
      : (!wantLayer || e.layer) && (!wantImage || e.image) && (!wantContainer || e.container);
    if (!ok) code = 1;
    text += `${arg}: ${present}\n`;
  }
  if (flagBool(ctx.flags, "json")) ctx.out.stdout(jsonLine(sortedMap(result)));
  else if (!flagBool(ctx.flags, "quiet")) ctx.out.stdout(text);
  return code;
}

/** The name, metadata and existence commands. */
export const nameCommands: Command[] = [
  {
    name: "get-names",
    aliases: ["getnames"],
    description: "Get layer, image, or container name or names",
    usage: "[options [...]] imageOrContainerNameOrID",
    minArgs: 1,
    maxArgs: 0,
    flags: [JSON_FLAG],
    run: async (ctx) => {
      const names = await (await ctx.store()).names(ctx.args[0]);
      if (flagBool(ctx.flags, "json")) ctx.out.stdout(jsonLine(names));
      else ctx.out.stdout(names.map((n) => `${n}\n`).join(""));
      return 0;
    },
  },
  {
    name: "add-names",
    aliases: ["addnames"],
    description: "Add layer, image, or container name or names",
    usage: "[options [...]] imageOrContainerNameOrID",
    minArgs: 1,
    maxArgs: 0,
    flags: [NAME_FLAG, JSON_FLAG],
    run: (ctx) => changeNames(ctx, true),
  },
  {
    name: "set-names",
    aliases: ["setnames"],
    description: "Set layer, image, or container name or names",
    usage: "[options [...]] imageOrContainerNameOrID",
    minArgs: 1,
    maxArgs: 0,
    flags: [NAME_FLAG, JSON_FLAG],
    run: (ctx) => changeNames(ctx, false),
  },
  {
    name: "metadata",
    description: "Retrieve layer, image, or container metadata",
    usage: "[options [...]] layerOrImageOrContainerNameOrID [...]",
    minArgs: 1,
    maxArgs: 0,
    flags: [{ long: "quiet", short: "q", kind: "bool", help: "Omit names and IDs" }, JSON_FLAG],
    run: metadata,
  },
  {
    name: "set-metadata",
    aliases: ["setmetadata"],
    description: "Set layer, image, or container metadata",
    usage: "[options [...]] layerOrImageOrContainerNameOrID",
    minArgs: 1,
    maxArgs: 1,
    flags: [
      { long: "metadata", short: "m", kind: "string", help: "Metadata" },
      { long: "metadata-file", short: "f", kind: "string", help: "Metadata File" },
    ],
    run: setMetadata,
  },
  {
    name: "exists",
    description: "Check if a layer or image or container exists",
    usage: "[options [...]] layerOrImageOrContainerNameOrID [...]",
    minArgs: 1,
    maxArgs: 0,
    flags: [
      { long: "quiet", short: "q", kind: "bool", help: "Don't print names" },
      { long: "layer", short: "l", kind: "bool", help: "Only succeed if the match is a layer" },
      { long: "image", short: "i", kind: "bool", help: "Only succeed if the match is an image" },
      {
        long: "container",
        short: "c",
        kind: "bool",
        help: "Only succeed if the match is a container",
      },
      JSON_FLAG,
    ],
    run: existsCommand,
  },
  {
    name: "delete",
    description: "Delete a layer or image or container, with no safety checks",
    usage: "[options [...]] layerOrImageOrContainerNameOrID [...]",
    minArgs: 1,
    maxArgs: 0,
    flags: [JSON_FLAG],
    run: async (ctx) => {
      const store = await ctx.store();
      return await perArgument(ctx, (arg) => store.delete(arg));
    },
  },
];
