/**
 * Container commands: containers, container, create-container,
 * delete-container, get-container-dir, get-container-run-dir.
 *
 * @module
 */

import { join } from "../path.ts";
import { type Command, type CommandContext, JSON_FLAG } from "./command.ts";
import { flagBool, flagList, flagString } from "./flags.ts";
import { jsonLine } from "./output.ts";
import { IDMAP_FLAGS, idMapRequest } from "./idmap_flags.ts";
import { type Container, containerToJSON } from "../records/container_record.ts";
import { errorMessage } from "../errors.ts";
import { perArgument } from "./layers.ts";
import type { Store } from "../store.ts";

async function listContainers(ctx: CommandContext): Promise<number> {
  const containers = await (await ctx.store()).containers();
  if (flagBool(ctx.flags, "json")) {
    ctx.out.stdout(jsonLine(containers.map(containerToJSON)));
    return 0;
  }
  let text = "";
  for (const c of containers) {
    text += `${c.id}\n`;
    for (const n of c.names) text += `\tname: ${n}\n`;
    for (const k of c.bigDataNames) text += `\tdata: ${k}\n`;
  }
  ctx.out.stdout(text);
  return 0;
}

/** Bytes of the non-directory files below `dir`, each inode counted once. */
async function dirSize(dir: string): Promise<number> {
  let total = 0;
  const seen = new Set<string>();
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = join(d, e.name);
      const st = await Deno.lstat(p);
      if (st.isDirectory) {
        await walk(p);
        continue;
      }
      const key = `${st.dev}:${st.ino}`;
      if (seen.has(key)) continue;
      seen.add(key);
      total += st.size;
    }
  };
  await walk(dir);
  return total;
}

async function containerSize(store: Store, c: Container): Promise<number> {
  let size = await store.layerSize(c.layerID);
  for (const k of c.bigDataNames) size += c.bigDataSizes[k] ?? 0;
  size += await dirSize(await store.containerDirectory(c.id));
  size += await dirSize(await store.containerRunDirectory(c.id));
  return size;
}

async function showContainers(ctx: CommandContext): Promise<number> {
  const store = await ctx.store();
  const found: Container[] = [];
  let missing = false;
  for (const arg of ctx.args) {
    const c = await store.container(arg);
    if (c) found.push(c);
    else missing = true;
  }
  if (flagBool(ctx.flags, "json")) {
    ctx.out.stdout(jsonLine(found.map(containerToJSON)));
    return missing ? 1 : 0;
  }
  let text = "";
  for (const c of found) {
    text += `ID: ${c.id}\n`;
    for (const n of c.names) text += `Name: ${n}\n`;
    text += `Image: ${c.imageID}\n`;
    const image = c.imageID ? await store.image(c.imageID) : undefined;
    for (const n of image?.names ?? []) text += `Image name: ${n}\n`;
    try {
      text += `Size: ${await containerSize(store, c)}\n`;
    } catch (err) {
      text += `Size unknown: ${errorMessage(err)}\n`;
    }
    text += `Layer: ${c.layerID}\n`;
    for (const k of c.bigDataNames) text += `Data: ${k}\n`;
  }
  ctx.out.stdout(text);
  return missing ? 1 : 0;
}

async function createContainerCommand(ctx: CommandContext): Promise<number> {
  const maps = idMapRequest(ctx.flags);
  let metadata = flagString(ctx.flags, "metadata");
  const metadataFile = flagString(ctx.flags, "metadata-file");
  if (metadataFile !== undefined) metadata = await Deno.readTextFile(metadataFile);
  const store = await ctx.store();
  const c = await store.createContainer(ctx.args[0], {
    id: flagString(ctx.flags, "id"),
    names: flagList(ctx.flags, "name"),
    volatile: flagBool(ctx.flags, "volatile"),
    metadata,
    ...maps,
  });
  if (flagBool(ctx.flags, "json")) ctx.out.stdout(jsonLine(containerToJSON(c)));
  else ctx.out.stdout(`${c.id}\n` + c.names.map((n) => `\t${n}`).join(""));
  return 0;
}

/** The container commands. */
export const containerCommands: Command[] = [
  {
    name: "containers",
    description: "List containers",
    usage: "[options [...]]",
    minArgs: 0,
    maxArgs: 0,
    flags: [JSON_FLAG],
    run: listContainers,
  },
  {
    name: "container",
    description: "Examine a container",
    usage: "[options [...]] containerNameOrID [...]",
    minArgs: 1,
    maxArgs: 0,
    flags: [JSON_FLAG],
    run: showContainers,
  },
  {
    name: "create-container",
    aliases: ["createcontainer"],
    description: "Create a new container from an image",
    usage: "[options [...]] imageNameOrID",
    minArgs: 1,
    maxArgs: 1,
    flags: [
      { long: "id", short: "i", kind: "string", help: "Container ID" },
      { long: "name", short: "n", kind: "list", help: "Container name" },
      { long: "volatile", kind: "bool", help: "Create a volatile container" },
      { long: "metadata", short: "m", kind: "string", help: "Metadata" },
      { long: "metadata-file", short: "f", kind: "string", help: "Metadata File" },
      JSON_FLAG,
      ...IDMAP_FLAGS,
    ],
    run: createContainerCommand,
  },
  {
    name: "delete-container",
    aliases: ["deletecontainer"],
    description: "Delete a container, with safety checks",
    usage: "[options [...]] containerNameOrID [...]",
    minArgs: 1,
    maxArgs: 0,
    flags: [JSON_FLAG],
    run: async (ctx) => {
      const store = await ctx.store();
      return await perArgument(ctx, (arg) => store.deleteContainer(arg));
    },
  },
  {
    name: "get-container-dir",
    aliases: ["getcontainerdir"],
    description: "Find the container's associated data directory",
    usage: "[options [...]] containerNameOrID",
    minArgs: 1,
    maxArgs: 0,
    flags: [],
    run: async (ctx) => {
      ctx.out.stdout(`${await (await ctx.store()).containerDirectory(ctx.args[0])}\n`);
      return 0;
    },
  },
  {
    name: "get-container-run-dir",
    aliases: ["getcontainerrundir"],
    description: "Find the container's associated runtime directory",
    usage: "[options [...]] containerNameOrID",
    minArgs: 1,
    maxArgs: 0,
    flags: [],
    run: async (ctx) => {
      ctx.out.stdout(`${await (await ctx.store()).containerRunDirectory(ctx.args[0])}\n`);
      return 0;
    },
  },
];
