/**
 * Mount commands: mount, unmount, mounted.
 *
 * @module
 */

import { type Command, type CommandContext, JSON_FLAG } from "./command.ts";
import { flagBool, flagString } from "./flags.ts";
import { jsonLine } from "./output.ts";
import { errorMessage, StorageError } from "../errors.ts";

async function mountCommand(ctx: CommandContext): Promise<number> {
  const store = await ctx.store();
  const json = flagBool(ctx.flags, "json");
  const readOnly = flagBool(ctx.flags, "ro");
  const results: Array<{ id: string; mountpoint: string; error: string }> = [];
  let failed = false;
  for (const arg of ctx.args) {
    let path = "";
    let error = "";
    try {
      let target = arg;
      if (readOnly) {
        const image = await store.image(arg);
        if (image === undefined) throw new StorageError("image-unknown");
        target = image.topLayer;
      }
      path = await store.mount(target, {
        options: readOnly ? ["noexec", "nosuid", "ro"] : [],
        mountLabel: flagString(ctx.flags, "label"),
      });
    } catch (err) {
      error = errorMessage(err);
      failed = true;
      if (!json) ctx.out.stderr(`${error} while mounting ${arg}\n`);
    }
    results.push({ id: arg, mountpoint: path, error });
    if (!json) ctx.out.stdout(`${path}\n`);
  }
  if (json) ctx.out.stdout(jsonLine(results));
  return failed ? 1 : 0;
}

async function unmountCommand(ctx: CommandContext): Promise<number> {
  const store = await ctx.store();
  const json = flagBool(ctx.flags, "json");
  const force = flagBool(ctx.flags, "force");
  const results: Array<{ id: string; error: string }> = [];
  let failed = false;
  for (const arg of ctx.args) {
    let error = "";
    try {
      const still = await store.unmount(arg, { force });
      if (!still && !json) ctx.out.stdout(`${arg} mountpoint unmounted\n`);
    } catch (first) {
      try {
        const image = await store.image(arg);
        if (image === undefined || image.topLayer === "") throw first;
        await store.unmount(image.topLayer, { force });
      } catch {
        error = errorMessage(first);
        failed = true;
        if (!json) ctx.out.stderr(`${error} while unmounting ${arg}\n`);
      }
    }
    results.push({ id: arg, error });
  }
  if (json) ctx.out.stdout(jsonLine(results));
  return failed ? 1 : 0;
}

async function mountedCommand(ctx: CommandContext): Promise<number> {
  const store = await ctx.store();
  const json = flagBool(ctx.flags, "json");
  const results: Array<{ id: string; mounted: boolean; error?: string }> = [];
  let failed = false;
  for (const arg of ctx.args) {
    try {
      const count = await store.mounted(arg);
      results.push({ id: arg, mounted: count > 0 });
      if (count > 0 && !json) ctx.out.stdout(`${arg} mounted\n`);
    } catch (err) {
      failed = true;
      results.push({ id: arg, mounted: false, error: errorMessage(err) });
      if (!json) ctx.out.stderr(`${errorMessage(err)} checking if ${arg} is mounted\n`);
    }
  }
  if (json) ctx.out.stdout(jsonLine(results));
  return failed ? 1 : 0;
}

/** The mount commands. */
export const mountCommands: Command[] = [
  {
    name: "mount",
    description: "Mount a layer or container",
    usage: "[options [...]] layerOrContainerNameOrID [...]",
    minArgs: 1,
    maxArgs: 0,
    flags: [
      { long: "ro", short: "r", kind: "bool", help: "Mount image read-only" },
      { long: "label", short: "l", kind: "string", help: "Mount Label" },
      { long: "opt", short: "o", kind: "list", help: "Mount Options" },
      JSON_FLAG,
    ],
    run: mountCommand,
  },
  {
    name: "unmount",
    aliases: ["umount"],
    description: "Unmount an image, layer or container",
    usage: "[options [...]] layerOrContainerMountpointOrNameOrID [...]",
    minArgs: 1,
    maxArgs: 0,
    flags: [{ long: "force", short: "f", kind: "bool", help: "Force the umount" }, JSON_FLAG],
    run: unmountCommand,
  },
  {
    name: "mounted",
    description: "Check if a file system is mounted",
    usage: "[options [...]] LayerOrContainerNameOrID",
    minArgs: 1,
    maxArgs: 0,
    flags: [JSON_FLAG],
    run: mountedCommand,
  },
];
