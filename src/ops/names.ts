/**
 * Names, metadata and existence across kinds: layers (all stores), then
 * images, then containers, as the CLI resolves them.
 *
 * @module
 */

import { StorageError } from "../errors.ts";
import type { StoreCore } from "../store_core.ts";

const ALL_R = { layers: "r", images: "r", containers: "r" } as const;
const ALL_W = { layers: "w", images: "w", containers: "w" } as const;

/** The names of whatever `key` identifies. */
export async function getNames(core: StoreCore, key: string): Promise<string[]> {
  return await core.withLocks(ALL_R, () => {
    const l = core.findLayer(key);
    if (l) return [...l.layer.names];
    const i = core.findImage(key);
    if (i) return [...i.image.names];
    const c = core.containers.find(key);
    if (c) return [...c.names];
    throw new StorageError("layer-unknown");
  });
}

/**
 * Replaces (`add` false) or extends (`add` true) the names of whatever `key`
 * identifies; names are taken away from other objects of the same kind.
 * An image that only an additional store has is copied into the primary
 * store first, as upstream does. Returns the resulting names.
 */
export async function changeNames(
  core: StoreCore,
  key: string,
  names: string[],
  add: boolean,
): Promise<string[]> {
  return await core.withLocks(ALL_W, () => {
    const layer = core.layers.find(key);
    if (layer) {
      core.layers.setNames(layer, add ? [...layer.names, ...names] : names);
      return [...layer.names];
    }
    if (core.roLayers.some((s) => s.find(key))) {
      throw new StorageError("read-only-store", `layer ${key}`);
    }
    let image = core.images.find(key);
    if (!image) {
      const ro = core.roImages.map((s) => s.find(key)).find((i) => i !== undefined);
      if (ro) image = core.images.adopt(ro);
    }
    if (image) {
      core.images.setNames(image, add ? [...image.names, ...names] : names);
      return [...image.names];
    }
    const c = core.containers.find(key);
    if (c) {
      core.containers.setNames(c, add ? [...c.names, ...names] : names);
      return [...c.names];
    }
    throw new StorageError("layer-unknown");
  });
}

/** The metadata of whatever `key` identifies, or undefined when nothing has that ID. */
export async function getMetadata(core: StoreCore, key: string): Promise<string | undefined> {
  return await core.withLocks(ALL_R, () => {
    const l = core.findLayer(key);
    if (l) return l.layer.metadata;
    const i = core.findImage(key);
    if (i) return i.image.metadata;
    return core.containers.find(key)?.metadata;
  });
}

/** Replaces the metadata of a layer, image or container of the primary stores. */
export async function setMetadata(core: StoreCore, key: string, metadata: string): Promise<void> {
  await core.withLocks(ALL_W, () => {
    const l = core.layers.find(key);
    if (l) return core.layers.setMetadata(l, metadata);
    const i = core.images.find(key);
    if (i) return core.images.setMetadata(i, metadata);
    const c = core.containers.find(key);
    if (c) return core.containers.setMetadata(c, metadata);
    throw new StorageError("not-an-id");
  });
}

/**
 * Which kinds `key` exists as.
 *
 * @example
 * ```ts
 * import { openStore } from "@cstor/storage";
 * const store = await openStore({ graphRoot: "/tmp/g", runRoot: "/tmp/r", driver: "vfs" });
 * const { layer, image, container } = await store.exists("example:1");
 * console.log(layer, image, container);
 * ```
 */
export interface Existence {
  /** Found as a layer (any layer store). */
  layer: boolean;
  /** Found as an image (any image store). */
  image: boolean;
  /** Found as a container. */
  container: boolean;
}

/** Looks `key` up as each kind. */
export async function exists(core: StoreCore, key: string): Promise<Existence> {
  return await core.withLocks(ALL_R, () => ({
    layer: core.findLayer(key) !== undefined,
    image: core.findImage(key) !== undefined,
    container: core.containers.find(key) !== undefined,
  }));
}
