/**
 * Creating a container: its read-write layer on the image's top layer, then
 * its record.
 *
 * @module
 */

import { StorageError } from "../errors.ts";
import { nowRFC3339Nano } from "../go_json.ts";
import { type Container, newContainer } from "../records/container_record.ts";
import type { IDMap } from "../archive/idmap.ts";
import type { StoreCore } from "../store_core.ts";
import { createLayer, layerMaps } from "./create_layer.ts";
import { deleteLayerLocked } from "./delete.ts";
import { containerParent } from "./mapped_layer.ts";

/**
 * Options for creating a container.
 *
 * @example
 * ```ts
 * import { openStore } from "@cstor/storage";
 * const store = await openStore({ graphRoot: "/tmp/g", runRoot: "/tmp/r", driver: "vfs" });
 * const image = await store.createImage({ topLayer: (await store.createLayer()).id });
 * const c = await store.createContainer(image.id, { names: ["web"], mountOpts: ["nodev"], volatile: true });
 * console.log(c.layerID);
 * ```
 */
export interface CreateContainerOptions {
  /** Container ID; generated when absent. */
  id?: string;
  /** Names. */
  names?: string[];
  /** Opaque metadata. */
  metadata?: string;
  /** Keep the container and its layer in the volatile files. */
  volatile?: boolean;
  /** SELinux mount label. */
  mountLabel?: string;
  /** Mount options used whenever the container is mounted. */
  mountOpts?: string[];
  /** UID map for the container (default: the store's). */
  uidMap?: IDMap[];
  /** GID map for the container. */
  gidMap?: IDMap[];
  /** Use host UIDs. */
  hostUIDMapping?: boolean;
  /** Use host GIDs. */
  hostGIDMapping?: boolean;
}

/** Creates a container from `image` (ID, name or prefix; `""` for none). */
export async function createContainer(
  core: StoreCore,
  image: string,
  opts: CreateContainerOptions,
): Promise<Container> {
  const plan = await core.withLocks({ layers: "r", images: "r", containers: "r" }, () => {
    let imageID = "";
    let topLayer = "";
    if (image !== "") {
      const found = core.findImage(image);
      if (found === undefined) {
        throw new StorageError("image-unknown", `locating image with ID ${JSON.stringify(image)}`);
      }
      imageID = found.image.id;
      topLayer = found.image.topLayer;
    }
    const id = opts.id || core.containers.newID();
    core.containers.checkNew(id, opts.names ?? []);
    const maps = layerMaps(opts, undefined, {
      uidMap: core.defaultUIDMap,
      gidMap: core.defaultGIDMap,
    });
    return { id, imageID, topLayer, maps };
  });
  const volatile = (opts.volatile ?? false) || core.transient;
  // Other maps than the image's: a mapped copy of its top layer (§8).
  const parent = plan.imageID === "" ? "" : await containerParent(core, plan.imageID, {
    maps: plan.maps,
    hostUIDMapping: opts.hostUIDMapping,
    hostGIDMapping: opts.hostGIDMapping,
  });
  const layer = await createLayer(core, {
    parent: parent || undefined,
    mountLabel: opts.mountLabel,
    uidMap: plan.maps.uidMap,
    gidMap: plan.maps.gidMap,
    hostUIDMapping: opts.hostUIDMapping,
    hostGIDMapping: opts.hostGIDMapping,
    volatile,
  });
  try {
    return await core.withLocks({ containers: "w" }, () => {
      const c = newContainer(plan.id, nowRFC3339Nano());
      c.names = [...new Set(opts.names ?? [])];
      c.imageID = plan.imageID;
      c.layerID = layer.id;
      c.metadata = opts.metadata ?? "";
      c.uidMap = plan.maps.uidMap;
      c.gidMap = plan.maps.gidMap;
      c.flags = { MountLabel: opts.mountLabel ?? "", ProcessLabel: "" };
      if (opts.mountOpts && opts.mountOpts.length > 0) c.flags["MountOpts"] = [...opts.mountOpts];
      if (volatile) c.flags["Volatile"] = true;
      c.volatile = volatile;
      return core.containers.create(c);
    });
  } catch (err) {
    await core.withLocks({ layers: "w" }, () => {
      const l = core.layers.find(layer.id);
      return l ? deleteLayerLocked(core, l) : undefined;
    }).catch(() => {});
    throw err;
  }
}
