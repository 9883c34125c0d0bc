/**
 * Layer commands: layers, layer, create-layer, import-layer, delete-layer.
 *
 * @module
 */

import { type Command, type CommandContext, JSON_FLAG } from "./command.ts";
import { flagBool, flagList, flagString } from "./flags.ts";
import { jsonLine } from "./output.ts";
import { sortedMap } from "../go_json.ts";
import { IDMAP_FLAGS, idMapRequest } from "./idmap_flags.ts";
import { type Layer, layerToJSON } from "../records/layer_record.ts";
import type { Image } from "../records/image_record.ts";
import type { Container } from "../records/container_record.ts";
import { errorMessage } from "../errors.ts";
import { layerInput } from "./input.ts";
import { layerTree } from "./layer_tree.ts";

async function listLayers(ctx: CommandContext): Promise<number> {
  const store = await ctx.store();
  const layers = await store.layers();
  if (flagBool(ctx.flags, "json")) {
    ctx.out.stdout(jsonLine(layers.length ? layers.map(layerToJSON) : null));
    return 0;
  }
  const images = await store.images();
  const containers = await store.containers();
  if (flagBool(ctx.flags, "tree")) {
    ctx.out.stdout(layerTree(layers, images, containers));
    return 0;
  }
  // Indexed once: filtering all images and containers for every layer made
  // a listing of 2000 layers and 1000 images quadratic.
  const imagesByLayer = indexImagesByLayer(images);
  const containersByLayer = groupBy(containers, (c) => [c.layerID]);
  let text = "";
  for (const layer of layers) {
    text += `${layer.id}\n`;
    for (const n of layer.names) text += `\tname: ${n}\n`;
    for (const image of imagesByLayer.get(layer.id) ?? []) {
      text += `\timage: ${image.id}\n`;
      for (const n of image.names) text += `\t\tname: ${n}\n`;
    }
    for (const c of containersByLayer.get(layer.id) ?? []) {
      text += `\tcontainer: ${c.id}\n`;
      for (const n of c.names) text += `\t\tname: ${n}\n`;
    }
  }
  ctx.out.stdout(text);
  return 0;
}

/** `items` by each of the keys `keys` gives for it, in the order of `items`. */
function groupBy<T>(items: T[], keys: (item: T) => string[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    for (const k of new Set(keys(item))) {
      const list = out.get(k);
      if (list) list.push(item);
      else out.set(k, [item]);
    }
  }
  return out;
}

/** For each layer ID, the images (in store order) that {@link imagesUsing} would return. */
export function indexImagesByLayer(images: Image[]): Map<string, Image[]> {
  return groupBy(images, (i) => [i.topLayer, ...i.mappedTopLayers]);
}

/** Images whose top layer or mapped layers include `layerID`. */
export function imagesUsing(images: Image[], layerID: string): Image[] {
  return images.filter((i) => i.topLayer === layerID || i.mappedTopLayers.includes(layerID));
}

/** Containers whose layer is `layerID`. */
export function containersUsing(containers: Container[], layerID: string): Container[] {
  return containers.filter((c) => c.layerID === layerID);
}

async function showLayers(ctx: CommandContext): Promise<number> {
  const store = await ctx.store();
  const found: Layer[] = [];
  let missing = false;
  for (const arg of ctx.args) {
    const layer = await store.layer(arg);
    if (layer) found.push(layer);
    else missing = true;
  }
  if (flagBool(ctx.flags, "json")) {
    ctx.out.stdout(jsonLine(found.map(layerToJSON)));
  } else {
    let text = "";
    for (const l of found) {
      text += `ID: ${l.id}\n`;
      for (const m of l.uidMap) {
        text += `UID mapping: (container=${m.container_id}, host=${m.host_id}, size=${m.size})\n`;
      }
      for (const m of l.gidMap) {
        text += `GID mapping: (container=${m.container_id}, host=${m.host_id}, size=${m.size})\n`;
      }
      if (l.parent) text += `Parent: ${l.parent}\n`;
      for (const n of l.names) text += `Name: ${n}\n`;
      if (l.readOnly) text += `Read Only: true\n`;
    }
    ctx.out.stdout(text);
  }
  return missing ? 1 : 0;
}

function printCreated(ctx: CommandContext, layer: Layer): void {
  if (flagBool(ctx.flags, "json")) {
    ctx.out.stdout(jsonLine(layerToJSON(layer)));
    return;
  }
  ctx.out.stdout(`${layer.id}\n` + layer.names.map((n) => `\t${n}\n`).join(""));
}

async function createLayerCommand(ctx: CommandContext, withDiff: boolean): Promise<number> {
  const maps = idMapRequest(ctx.flags);
  const store = await ctx.store();
  const diff = withDiff ? await layerInput(ctx, flagString(ctx.flags, "file")) : undefined;
  const layer = await store.createLayer({
    id: flagString(ctx.flags, "id"),
    parent: ctx.args[0],
    names: flagList(ctx.flags, "name"),
    mountLabel: flagString(ctx.flags, "label"),
    readOnly: flagBool(ctx.flags, "readonly"),
    ...maps,
    diff,
  });
  printCreated(ctx, layer);
  return 0;
}

/** Runs `op` per argument and prints the delete-style report (spec/cli.md delete-layer). */
export async function perArgument(
  ctx: CommandContext,
  op: (arg: string) => Promise<void>,
): Promise<number> {
  const results: Record<string, string> = {};
  let failed = false;
  for (const arg of ctx.args) {
    try {
      await op(arg);
      results[arg] = "";
    } catch (err) {
      results[arg] = errorMessage(err);
      failed = true;
      if (!flagBool(ctx.flags, "json")) ctx.out.stderr(`${arg}: ${errorMessage(err)}\n`);
    }
  }
  if (flagBool(ctx.flags, "json")) ctx.out.stdout(jsonLine(sortedMap(results)));
  return failed ? 1 : 0;
}

const CREATE_FLAGS = [
  { long: "id", short: "i", kind: "string" as const, help: "Layer ID" },
  { long: "name", short: "n", kind: "list" as const, help: "Layer name" },
  { long: "label", short: "l", kind: "string" as const, help: "Mount label" },
  { long: "readonly", short: "r", kind: "bool" as const, help: "Create a read-only layer" },
  JSON_FLAG,
  ...IDMAP_FLAGS,
];

/** The layer commands. */
export const layerCommands: Command[] = [
  {
    name: "layers",
    description: "List layers",
    usage: "[options [...]]",
    minArgs: 0,
    maxArgs: 0,
    flags: [{ long: "tree", short: "t", kind: "bool", help: "Use a tree" }, JSON_FLAG],
    run: listLayers,
  },
  {
    name: "layer",
    description: "Examine a layer",
    usage: "[options [...]] layerNameOrID [...]",
    minArgs: 1,
    maxArgs: 0,
    flags: [JSON_FLAG],
    run: showLayers,
  },
  {
    name: "create-layer",
    aliases: ["createlayer"],
    description: "Create a new layer",
    usage: "[options [...]] [parentLayerNameOrID]",
    minArgs: 0,
    maxArgs: 1,
    flags: CREATE_FLAGS,
    run: (ctx) => createLayerCommand(ctx, false),
  },
  {
    name: "import-layer",
    aliases: ["importlayer"],
    description: "Import a new layer",
    usage: "[options [...]] [parentLayerNameOrID]",
    minArgs: 0,
    maxArgs: 1,
    flags: [...CREATE_FLAGS, {
      long: "file",
      short: "f",
      kind: "string",
      help: "Read from file instead of stdin",
    }],
    run: (ctx) => createLayerCommand(ctx, true),
  },
  {
    name: "delete-layer",
    aliases: ["deletelayer"],
    description: "Delete a layer, with safety checks",
    usage: "[options [...]] layerNameOrID [...]",
    minArgs: 1,
    maxArgs: 0,
    flags: [JSON_FLAG],
    run: async (ctx) => {
      const store = await ctx.store();
      return await perArgument(ctx, (arg) => store.deleteLayer(arg));
    },
  },
];
