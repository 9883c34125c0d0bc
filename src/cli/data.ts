/**
 * Big-data commands for layers, images and containers.
 *
 * @module
 */

import { type Command, type CommandContext, JSON_FLAG } from "./command.ts";
import { flagBool, flagString } from "./flags.ts";
import { jsonLine } from "./output.ts";
import { inputStream } from "./input.ts";
import type { Store } from "../store.ts";

const FILE_FLAG = {
  long: "file",
  short: "f",
  kind: "string" as const,
  help: "Read from or write to file instead of stdin/stdout",
};

type Kind = "layer" | "image" | "container";

const list: Record<Kind, (s: Store, id: string) => Promise<string[]>> = {
  layer: (s, id) => s.listLayerBigData(id),
  image: (s, id) => s.listImageBigData(id),
  container: (s, id) => s.listContainerBigData(id),
};

const get: Record<Kind, (s: Store, id: string, key: string) => Promise<Uint8Array>> = {
  layer: (s, id, key) => s.layerBigData(id, key),
  image: (s, id, key) => s.imageBigData(id, key),
  container: (s, id, key) => s.containerBigData(id, key),
};

const set: Record<
  Kind,
  (s: Store, id: string, key: string, data: ReadableStream<Uint8Array>) => Promise<unknown>
> = {
  layer: (s, id, key, data) => s.setLayerBigData(id, key, data),
  image: (s, id, key, data) => s.setImageBigData(id, key, data),
  container: (s, id, key, data) => s.setContainerBigData(id, key, data),
};

async function writeOutput(ctx: CommandContext, bytes: Uint8Array): Promise<void> {
  const file = flagString(ctx.flags, "file");
  if (file) await Deno.writeFile(file, bytes);
  else await ctx.out.pipe(ReadableStream.from([bytes]));
}

function dataCommands(kind: Kind, article: string): Command[] {
  const Kind = kind;
  return [
    {
      name: `list-${kind}-data`,
      aliases: [`list${kind}data`],
      description: `List data items that are attached to ${article} ${kind}`,
      usage: `[options [...]] ${Kind}NameOrID`,
      minArgs: 1,
      maxArgs: 1,
      flags: [JSON_FLAG],
      run: async (ctx) => {
        const keys = await list[kind](await ctx.store(), ctx.args[0]);
        if (flagBool(ctx.flags, "json")) ctx.out.stdout(jsonLine(keys.length ? keys : null));
        else ctx.out.stdout(keys.map((k) => `${k}\n`).join(""));
        return 0;
      },
    },
    {
      name: `get-${kind}-data`,
      aliases: [`get${kind}data`],
      description: `Get data that is attached to ${article} ${kind}`,
      usage: `[options [...]] ${Kind}NameOrID dataName`,
      minArgs: 2,
      maxArgs: 0,
      flags: [FILE_FLAG],
      run: async (ctx) => {
        await writeOutput(ctx, await get[kind](await ctx.store(), ctx.args[0], ctx.args[1]));
        return 0;
      },
    },
    {
      name: `set-${kind}-data`,
      aliases: [`set${kind}data`],
      description: `Set data that is attached to ${article} ${kind}`,
      usage: `[options [...]] ${Kind}NameOrID dataName`,
      minArgs: 2,
      maxArgs: 0,
      flags: [FILE_FLAG],
      run: async (ctx) => {
        const store = await ctx.store();
        const data = await inputStream(ctx, flagString(ctx.flags, "file"));
        await set[kind](store, ctx.args[0], ctx.args[1], data);
        return 0;
      },
    },
  ];
}

function infoCommand(kind: "image" | "container", what: "size" | "digest"): Command {
  return {
    name: `get-${kind}-data-${what}`,
    aliases: [`get${kind}data${what}`],
    description: `Get ${what} of data that is attached to ${
      kind === "image" ? "an image" : "an container"
    }`,
    usage: `[options [...]] ${kind}NameOrID dataName`,
    minArgs: 2,
    maxArgs: 0,
    flags: [],
    run: async (ctx) => {
      const store = await ctx.store();
      const [id, key] = ctx.args;
      let value: string | number;
      if (kind === "image") {
        value = what === "size"
          ? await store.imageBigDataSize(id, key)
          : await store.imageBigDataDigest(id, key);
      } else {
        const info = await store.containerBigDataInfo(id, key);
        value = what === "size" ? info.size : info.digest;
      }
      ctx.out.stdout(`${value}\n`);
      return 0;
    },
  };
}

/** The big-data commands. */
export const dataCommandList: Command[] = [
  ...dataCommands("layer", "a"),
  ...dataCommands("image", "an"),
  infoCommand("image", "size"),
  infoCommand("image", "digest"),
  ...dataCommands("container", "an"),
  infoCommand("container", "size"),
  infoCommand("container", "digest"),
];
