/**
 * Deleting layers, images and containers with upstream's safety checks
 * (layers-and-diffs.md §9.2), the unchecked `delete`, and `wipe`.
 * All run under layers W, images W, containers W.
 *
 * @module
 */

import { StorageError } from "../errors.ts";
import { compareTimes } from "../go_json.ts";
import type { Layer } from "../records/layer_record.ts";
import type { StoreCore } from "../store_core.ts";

const ALL_W = { layers: "w", images: "w", containers: "w" } as const;

/** Deletes a layer record and its contents; forgets it from images' mapped layers. */
export async function deleteLayerLocked(core: StoreCore, layer: Layer): Promise<void> {
  await core.layers.delete(layer);
  core.images.forgetMappedLayer(layer.id);
}

/** Deletes a layer of the primary store that nothing uses. */
export async function deleteLayer(core: StoreCore, key: string): Promise<void> {
  await core.withLocks(ALL_W, async () => {
    const layer = core.layers.find(key);
    if (layer === undefined) throw new StorageError("not-a-layer");
    const id = layer.id;
    for (const store of core.allLayerStores()) {
      const child = store.children(id)[0];
      if (child !== undefined) {
        throw new StorageError("layer-has-children", `used by layer ${child.id}`);
      }
    }
    for (const store of core.allImageStores()) {
      for (const image of store.list()) {
        if (image.topLayer === id) {
          throw new StorageError("layer-used-by-image", `layer ${id} used by image ${image.id}`);
        }
      }
    }
    const c = core.containers.byLayer(id);
    if (c !== undefined) {
      throw new StorageError("layer-used-by-container", `layer ${id} used by container ${c.id}`);
    }
    await deleteLayerLocked(core, layer);
  });
}

/**
 * Deletes an image and the layers only it used; with `commit` false only
 * reports which layers would go. Returns the layer IDs, in removal order.
 */
export async function deleteImage(
  core: StoreCore,
  key: string,
  commit: boolean,
): Promise<string[]> {
  return await core.withLocks(ALL_W, async () => {
    const image = core.images.find(key);
    if (image === undefined) throw new StorageError("not-an-image");
    for (const c of core.containers.list()) {
      if (c.imageID === image.id) {
        throw new StorageError("image-used-by-container", `image used by ${c.id}`);
      }
    }
    const images = core.images.list().filter((i) => i.id !== image.id);
    const usedByOthers = new Set(images.flatMap((i) => [i.topLayer, ...i.mappedTopLayers]));
    const containerLayers = new Set(core.containers.list().map((c) => c.layerID));
    const removing: string[] = [...image.mappedTopLayers];
    const removingSet = new Set(removing);
    const childrenOutside = (id: string) =>
      core.layers.children(id).some((child) => !removingSet.has(child.id));
    let id = image.topLayer;
    let isTop = true;
    while (id !== "") {
      const layer = core.layers.find(id);
      if (layer === undefined || layer.id !== id) break;
      if (containerLayers.has(id) || usedByOthers.has(id)) break;
      // For the top layer, children of its mapped copies count too.
      const mappedChildren = isTop &&
        image.mappedTopLayers.some((m) => childrenOutside(m));
      if (childrenOutside(id) || mappedChildren) break;
      removing.push(id);
      removingSet.add(id);
      id = layer.parent;
      isTop = false;
    }
    if (!commit) return removing;
    await core.images.delete(image);
    for (const layerID of removing) {
      const layer = core.layers.find(layerID);
      if (layer !== undefined && layer.id === layerID) await deleteLayerLocked(core, layer);
    }
    return removing;
  });
}

/** Deletes a container, its layer and both of its directories. */
export async function deleteContainer(core: StoreCore, key: string): Promise<void> {
  await core.withLocks(ALL_W, async () => {
    const c = core.containers.find(key);
    if (c === undefined) throw new StorageError("not-a-container");
    const layer = core.layers.find(c.layerID);
    if (layer !== undefined && layer.id === c.layerID) await deleteLayerLocked(core, layer);
    await core.containers.delete(c);
  });
}

/** Deletes whatever `key` names, without safety checks (container, else image record, else layer). */
export async function deleteAnything(core: StoreCore, key: string): Promise<void> {
  await core.withLocks(ALL_W, async () => {
    const c = core.containers.find(key);
    if (c !== undefined) {
      const layer = core.layers.find(c.layerID);
      if (layer === undefined || layer.id !== c.layerID) throw new StorageError("not-a-layer");
      await deleteLayerLocked(core, layer);
      await core.containers.delete(c);
      return;
    }
    const image = core.images.find(key);
    if (image !== undefined) {
      await core.images.delete(image);
      return;
    }
    const layer = core.layers.find(key);
    if (layer !== undefined) {
      await deleteLayerLocked(core, layer);
      return;
    }
    throw new StorageError("layer-unknown");
  });
}

/** Deletes every container, image and layer (newest layers first). */
export async function wipe(core: StoreCore): Promise<void> {
  await core.withLocks(ALL_W, async () => {
    for (const c of core.containers.list()) {
      const live = core.containers.find(c.id);
      if (live) await core.containers.delete(live);
    }
    for (const i of core.images.list()) {
      const live = core.images.find(i.id);
      if (live) await core.images.delete(live);
    }
    const layers = core.layers.list().sort((a, b) => compareTimes(b.created, a.created));
    for (const l of layers) {
      const live = core.layers.find(l.id);
      if (live) await core.layers.delete(live);
    }
  });
}
