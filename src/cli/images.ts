/**
 * Image commands: images, image, images-by-digest, create-image, delete-image.
 *
 * @module
 */

import { type Command, type CommandContext, JSON_FLAG } from "./command.ts";
import { flagBool, flagList, flagString } from "./flags.ts";
import { jsonLine } from "./output.ts";
import { sortedMap } from "../go_json.ts";
import { type Image, imageToJSON } from "../records/image_record.ts";
import { errorMessage, StorageError } from "../errors.ts";
import { digestProblem } from "../ids.ts";
import { omitEmpty } from "../records/fields.ts";

const QUIET_FLAG = { long: "quiet", short: "q", kind: "bool" as const, help: "Only print IDs" };

function imageLines(images: Image[], quiet: boolean): string {
  let text = "";
  for (const i of images) {
    text += `${i.id}\n`;
    if (quiet) continue;
    for (const n of i.names) text += `\tname: ${n}\n`;
    for (const d of i.digests) text += `\tdigest: ${d}\n`;
    for (const k of i.bigDataNames) text += `\tdata: ${k}\n`;
  }
  return text;
}

async function listImages(ctx: CommandContext): Promise<number> {
  const images = await (await ctx.store()).images();
  if (flagBool(ctx.flags, "json")) {
    ctx.out.stdout(jsonLine(images.length ? images.map(imageToJSON) : null));
  } else {
    ctx.out.stdout(imageLines(images, flagBool(ctx.flags, "quiet")));
  }
  return 0;
}

async function imagesByDigest(ctx: CommandContext): Promise<number> {
  const digest = ctx.args[0];
  const problem = digestProblem(digest);
  if (problem !== undefined) {
    throw new StorageError("invalid-digest", undefined, { message: `${digest}: ${problem}` });
  }
  const images = await (await ctx.store()).imagesByDigest(digest);
  if (flagBool(ctx.flags, "json")) ctx.out.stdout(jsonLine(images.map(imageToJSON)));
  else ctx.out.stdout(imageLines(images, flagBool(ctx.flags, "quiet")));
  return 0;
}

async function showImages(ctx: CommandContext): Promise<number> {
  const store = await ctx.store();
  const found: Image[] = [];
  let missing = false;
  for (const arg of ctx.args) {
    const image = await store.image(arg);
    if (image) found.push(image);
    else missing = true;
  }
  if (flagBool(ctx.flags, "json")) {
    ctx.out.stdout(jsonLine(found.map(imageToJSON)));
    return missing ? 1 : 0;
  }
  let text = "";
  for (const i of found) {
    text += `ID: ${i.id}\n`;
    for (const n of i.names) text += `Name: ${n}\n`;
    text += `Top Layer: ${i.topLayer}\n`;
    for (const m of i.mappedTopLayers) text += `Top Layer: ${m}\n`;
    for (const d of i.digests) text += `Digest: ${d}\n`;
    for (const k of i.bigDataNames) text += `Data: ${k}\n`;
    try {
      text += `Size: ${await store.imageSize(i.id)}\n`;
    } catch (err) {
      text += `Size unknown: ${errorMessage(err)}\n`;
    }
    if (i.readOnly) text += `Read Only: true\n`;
  }
  ctx.out.stdout(text);
  return missing ? 1 : 0;
}

async function createImageCommand(ctx: CommandContext): Promise<number> {
  let metadata = flagString(ctx.flags, "metadata");
  const metadataFile = flagString(ctx.flags, "metadata-file");
  if (metadataFile !== undefined) metadata = await Deno.readTextFile(metadataFile);
  const store = await ctx.store();
  const image = await store.createImage({
    id: flagString(ctx.flags, "id"),
    topLayer: ctx.args[0],
    names: flagList(ctx.flags, "name"),
    digest: flagString(ctx.flags, "digest"),
    metadata,
  });
  if (flagBool(ctx.flags, "json")) ctx.out.stdout(jsonLine(imageToJSON(image)));
  else ctx.out.stdout(`${image.id}\n` + image.names.map((n) => `\t${n}\n`).join(""));
  return 0;
}

async function deleteImages(ctx: CommandContext): Promise<number> {
  const store = await ctx.store();
  const commit = !flagBool(ctx.flags, "test");
  const json = flagBool(ctx.flags, "json");
  const results: Record<string, Record<string, unknown>> = {};
  let failed = false;
  for (const arg of ctx.args) {
    try {
      const layers = await store.deleteImage(arg, { commit });
      results[arg] = { "deleted-layers": omitEmpty(layers) };
      if (!json) { for (const l of layers) ctx.out.stderr(`${arg}: ${l}\n`); }
    } catch (err) {
      failed = true;
      results[arg] = { error: errorMessage(err) };
      if (!json) ctx.out.stderr(`${arg}: ${errorMessage(err)}\n`);
    }
  }
  if (json) ctx.out.stdout(jsonLine(sortedMap(results)));
  return failed ? 1 : 0;
}

/** The image commands. */
export const imageCommands: Command[] = [
  {
    name: "images",
    description: "List images",
    usage: "[options [...]]",
    minArgs: 0,
    maxArgs: 0,
    flags: [JSON_FLAG, QUIET_FLAG],
    run: listImages,
  },
  {
    name: "images-by-digest",
    description: "List images by digest",
    usage: "[options [...]] digest",
    minArgs: 1,
    maxArgs: 1,
    flags: [JSON_FLAG, QUIET_FLAG],
    run: imagesByDigest,
  },
  {
    name: "image",
    description: "Examine an image",
    usage: "[options [...]] imageNameOrID [...]",
    minArgs: 1,
    maxArgs: 0,
    flags: [JSON_FLAG],
    run: showImages,
  },
  {
    name: "create-image",
    aliases: ["createimage"],
    description: "Create a new image using layers",
    usage: "[options [...]] topLayerNameOrID",
    minArgs: 0,
    maxArgs: 1,
    flags: [
      { long: "id", short: "i", kind: "string", help: "Image ID" },
      { long: "name", short: "n", kind: "list", help: "Image name" },
      { long: "digest", short: "d", kind: "string", help: "Image Digest" },
      { long: "metadata", short: "m", kind: "string", help: "Metadata" },
      { long: "metadata-file", short: "f", kind: "string", help: "Metadata File" },
      JSON_FLAG,
    ],
    run: createImageCommand,
  },
  {
    name: "delete-image",
    aliases: ["deleteimage"],
    description: "Delete an image, with safety checks",
    usage: "[options [...]] imageNameOrID [...]",
    minArgs: 1,
    maxArgs: 0,
    flags: [{ long: "test", short: "t", kind: "bool", help: "Only test removal" }, JSON_FLAG],
    run: deleteImages,
  },
];
