/**
 * The layer a container with other ID maps than its image is built on
 * (layers-and-diffs.md §8): a copy of the image's top layer whose contents
 * are re-owned for those maps, made once per image and set of maps and
 * listed in the image's `mapped-layers`, so the next container with the
 * same maps starts from it instead of re-owning the image again. (Go does
 * the same when its driver cannot shift IDs at mount time, and reads the
 * same records.)
 *
 * @module
 */

import { writeStreamAtomic } from "../record_file.ts";
import { nowRFC3339Nano } from "../go_json.ts";
import { sameIDMaps } from "../archive/idmap.ts";
import { type Layer, newLayer } from "../records/layer_record.ts";
import type { IDMappings } from "../drivers/driver.ts";
import type { StoreCore } from "../store_core.ts";
import type { LayerStore } from "../layers.ts";
import { deleteLayerLocked } from "./delete.ts";

/** What the container asks for. */
export interface WantedMaps {
  maps: IDMappings;
  hostUIDMapping?: boolean;
  hostGIDMapping?: boolean;
}

/** §8 step 2: a layer matches when its maps are the wanted ones (absent and empty alike). */
function matches(layer: Layer, want: WantedMaps): boolean {
  if (want.hostUIDMapping && layer.uidMap.length > 0) return false;
  if (want.hostGIDMapping && layer.gidMap.length > 0) return false;
  return sameIDMaps(layer.uidMap, want.maps.uidMap) && sameIDMaps(layer.gidMap, want.maps.gidMap);
}

interface Candidate {
  layer: Layer;
  store: LayerStore;
}

/**
 * The parent for the read-write layer of a container of `imageID`: the
 * image's top layer or one of its mapped copies when their maps are the
 * wanted ones; otherwise a new mapped copy of the top layer (when both the
 * image and the layer are in the primary stores); otherwise the top layer
 * itself (the container's own layer is then re-owned when it is created).
 */
export async function containerParent(
  core: StoreCore,
  imageID: string,
  want: WantedMaps,
): Promise<string> {
  type Plan = { parent: string; template?: Layer; imageID?: string };
  const plan = await core.withLocks({ layers: "r", images: "r" }, (): Plan => {
    const found = core.findImage(imageID);
    if (found === undefined) return { parent: "" };
    const image = found.image;
    const ids = [image.topLayer, ...image.mappedTopLayers];
    const candidates: Candidate[] = [];
    for (const store of core.allLayerStores()) {
      for (const id of ids) {
        const layer = store.find(id);
        if (layer === undefined || layer.id !== id) continue;
        if (layer.parent !== "" && core.layerByID(layer.parent) === undefined) continue;
        candidates.push({ layer, store });
      }
    }
    const match = candidates.find((c) => matches(c.layer, want));
    if (match !== undefined) return { parent: match.layer.id };
    const first = candidates[0];
    if (first === undefined) return { parent: image.topLayer };
    if (first.store !== core.layers || found.store !== core.images) {
      return { parent: first.layer.id };
    }
    return {
      parent: first.layer.id,
      template: structuredClone(first.layer),
      imageID: image.id,
    };
  });
  if (plan.template === undefined) return plan.parent;
  return await createMappedLayer(core, plan.imageID!, plan.template, want.maps);
}

/**
 * §8 step 3: a new layer with `template`'s parent, contents and recorded
 * diff, owned for `maps`. Built in staging from the template (overlay:
 * the template is its lower; vfs: a copy), then recorded and appended to
 * the image's mapped layers in one locked step.
 */
async function createMappedLayer(
  core: StoreCore,
  imageID: string,
  template: Layer,
  maps: IDMappings,
): Promise<string> {
  const driver = core.driver;
  const templateRef = core.layers.ref(template);
  const staged = await driver.stage(templateRef, {
    mountLabel: template.mountLabel,
    maps,
    parentMaps: templateRef.maps,
  });
  try {
    return await core.withLocks({ layers: "w", images: "w" }, async () => {
      const image = core.images.find(imageID);
      const live = core.layers.find(template.id);
      if (image === undefined || image.id !== imageID || live === undefined) {
        // The image or its layer went away meanwhile: build on the top layer as before.
        return template.id;
      }
      const id = core.layers.newID();
      const layer = newLayer(id, nowRFC3339Nano());
      layer.parent = live.parent;
      layer.mountLabel = live.mountLabel;
      layer.metadata = live.metadata;
      layer.uidMap = structuredClone(maps.uidMap ?? []);
      layer.gidMap = structuredClone(maps.gidMap ?? []);
      layer.compressedDigest = live.compressedDigest;
      layer.compressedSize = live.compressedSize;
      layer.uncompressedDigest = live.uncompressedDigest;
      layer.uncompressedSize = live.uncompressedSize;
      layer.compression = live.compression;
      layer.uidSet = [...live.uidSet];
      layer.gidSet = [...live.gidSet];
      await driver.commit(staged, id, templateRef);
      let added = false;
      try {
        await copyTarSplit(core.layers.tarSplitPath(live.id), core.layers.tarSplitPath(id));
        core.layers.add(layer);
        added = true;
        core.images.addMappedLayer(image, id);
        return id;
      } catch (err) {
        if (added) {
          const rec = core.layers.find(id);
          if (rec !== undefined) await deleteLayerLocked(core, rec).catch(() => {});
        } else {
          await driver.remove(id).catch(() => {});
          await Deno.remove(core.layers.tarSplitPath(id)).catch(() => {});
        }
        throw err;
      }
    });
  } finally {
    await driver.discard(staged);
  }
}

async function copyTarSplit(from: string, to: string): Promise<void> {
  let src: Deno.FsFile;
  try {
    src = await Deno.open(from, { read: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    throw err;
  }
  await writeStreamAtomic(to, src.readable);
}
