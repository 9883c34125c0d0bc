/**
 * `copy` between the host and layers, and the parent-owner reports
 * (`layer-parent-owners`, `container-parent-owners`).
 *
 * @module
 */

import { join } from "../path.ts";
import { type Command, type CommandContext, JSON_FLAG } from "./command.ts";
import { flagBool, flagString } from "./flags.ts";
import { jsonLine } from "./output.ts";
import { errorMessage, StorageError } from "../errors.ts";
import type { CopyOwners } from "../ops/copy.ts";
import type { IDMappings } from "../drivers/driver.ts";
import type { Store } from "../store.ts";
import type { Layer } from "../records/layer_record.ts";

const HOST: IDMappings = { uidMap: [], gidMap: [] };

interface Location {
  layer?: string;
  path: string;
}

function parseLocation(arg: string): Location {
  const colon = arg.indexOf(":");
  if (colon < 0) return { path: arg };
  return { layer: arg.slice(0, colon), path: arg.slice(colon + 1) };
}

function parseChown(spec: string | undefined): { uid: number; gid: number } | undefined {
  if (spec === undefined || spec === "") return undefined;
  const [u, g = u] = spec.split(":", 2);
  const num = (s: string, what: string) => {
    if (!/^\d+$/.test(s)) {
      throw new Error(`error ${JSON.stringify(s)} as a numeric ${what}: invalid syntax`);
    }
    return Number(s);
  };
  return { uid: num(u, "UID"), gid: num(g, "GID") };
}

async function copyCommand(ctx: CommandContext): Promise<number> {
  const store = await ctx.store();
  const chown = parseChown(flagString(ctx.flags, "chown"));
  const target = parseLocation(ctx.args[ctx.args.length - 1]);
  if (target.layer === undefined || target.layer === "") {
    throw new Error(
      `error parsing target location ${JSON.stringify(ctx.args[ctx.args.length - 1])}: no layer`,
    );
  }
  const sources = ctx.args.slice(0, -1).map(parseLocation);
  const mounted = new Map<string, { layer: Layer; path: string }>();
  const mountLayer = async (key: string) => {
    const known = mounted.get(key);
    if (known) return known;
    const layer = await store.layer(key);
    if (layer === undefined) {
      throw new Error(
        `error finding layer ${JSON.stringify(key)}: ${new StorageError("layer-unknown").message}`,
      );
    }
    let path: string;
    try {
      path = await store.mount(layer.id);
    } catch (err) {
      throw new Error(`error mounting layer ${JSON.stringify(layer.id)}: ${errorMessage(err)}`);
    }
    const entry = { layer, path };
    mounted.set(key, entry);
    return entry;
  };
  // Loaded only for this command (it brings node:fs), not on every CLI start.
  const { copyPath } = await import("../ops/copy.ts");
  try {
    const dst = await mountLayer(target.layer);
    const dstPath = join(dst.path, target.path);
    for (const src of sources) {
      let srcPath = src.path;
      let from = HOST;
      if (src.layer !== undefined && src.layer !== "") {
        const m = await mountLayer(src.layer);
        srcPath = join(m.path, src.path);
        from = { uidMap: m.layer.uidMap, gidMap: m.layer.gidMap };
      }
      const owners: CopyOwners = {
        from,
        to: { uidMap: dst.layer.uidMap, gidMap: dst.layer.gidMap },
        chown,
      };
      try {
        copyPath(srcPath, dstPath, owners, false);
      } catch (err) {
        throw new Error(
          `error copying ${JSON.stringify(srcPath)} to ${JSON.stringify(dstPath)}: ${
            errorMessage(err)
          }`,
        );
      }
    }
    return 0;
  } finally {
    for (const { layer } of mounted.values()) {
      try {
        await store.unmount(layer.id);
      } catch (err) {
        ctx.out.stderr(
          `error unmounting layer ${JSON.stringify(layer.id)}: ${errorMessage(err)}\n`,
        );
      }
    }
  }
}

async function owners(store: Store, layer: Layer): Promise<{ uids: number[]; gids: number[] }> {
  const maps = { uidMap: layer.uidMap, gidMap: layer.gidMap };
  if (maps.uidMap.length === 0 && maps.gidMap.length === 0) return { uids: [], gids: [] };
  const current = await store.layer(layer.id);
  if (!current?.mountPoint) throw new StorageError("layer-not-mounted");
  const { parentOwners } = await import("../ops/copy.ts");
  return parentOwners(current.mountPoint, maps);
}

function parentOwnersCommand(
  kind: "layer" | "container",
): (ctx: CommandContext) => Promise<number> {
  return async (ctx) => {
    const store = await ctx.store();
    const json = flagBool(ctx.flags, "json");
    let code = 0;
    for (const arg of ctx.args) {
      let layer: Layer | undefined;
      let id = arg;
      if (kind === "layer") {
        layer = await store.layer(arg);
        id = layer?.id ?? arg;
      } else {
        const c = await store.container(arg);
        layer = c ? await store.layer(c.layerID) : undefined;
        id = c?.id ?? arg;
      }
      if (layer === undefined) {
        code = 1;
        continue;
      }
      let result;
      try {
        result = await owners(store, layer);
      } catch (err) {
        ctx.out.stderr(
          `${kind === "layer" ? "LayerParentOwner" : "ContainerParentOwner"}: ${
            errorMessage(err)
          }\n`,
        );
        return 1;
      }
      if (json) {
        ctx.out.stdout(jsonLine({
          ID: id,
          UIDs: result.uids.length ? result.uids : null,
          GIDs: result.gids.length ? result.gids : null,
        }));
      } else {
        let text = `ID: ${id}\n`;
        if (kind === "container" || result.uids.length) {
          text += `UIDs: [${result.uids.join(" ")}]\n`;
        }
        if (kind === "container" || result.gids.length) {
          text += `GIDs: [${result.gids.join(" ")}]\n`;
        }
        ctx.out.stdout(text);
      }
    }
    return code;
  };
}

/** The copy and parent-owner commands. */
export const copyCommands: Command[] = [
  {
    name: "copy",
    description: "Copy files or directories into a layer, possibly from another layer",
    usage: "[options [...]] [sourceLayerNameOrID:]/path [...] targetLayerNameOrID:/path",
    minArgs: 2,
    maxArgs: 0,
    flags: [
      { long: "chown", kind: "string", help: "Set owner on new copies" },
      JSON_FLAG,
    ],
    run: copyCommand,
  },
  {
    name: "layer-parent-owners",
    description: "Compute the set of unmapped parent UIDs and GIDs of the layer",
    usage: "[options [...]] layerNameOrID [...]",
    minArgs: 1,
    maxArgs: 0,
    flags: [JSON_FLAG],
    run: parentOwnersCommand("layer"),
  },
  {
    name: "container-parent-owners",
    description: "Compute the set of unmapped parent UIDs and GIDs of the container",
    usage: "[options [...]] containerNameOrID [...]",
    minArgs: 1,
    maxArgs: 0,
    flags: [JSON_FLAG],
    run: parentOwnersCommand("container"),
  },
];
