/**
 * Image operations: create, look up, size.
 *
 * @module
 */

import { StorageError } from "../errors.ts";
import { nowRFC3339Nano } from "../go_json.ts";
import { type Image, newImage } from "../records/image_record.ts";
import type { StoreCore } from "../store_core.ts";
import type { Layer } from "../records/layer_record.ts";

/**
 * Options for creating an image.
 *
 * @example
 * ```ts
 * import { openStore } from "@cstor/storage";
 * const store = await openStore({ graphRoot: "/tmp/g", runRoot: "/tmp/r", driver: "vfs" });
 * const layer = await store.createLayer();
 * const image = await store.createImage({ topLayer: layer.id, names: ["example:1"], metadata: "{}" });
 * console.log(image.id);
 * ```
 */
export interface CreateImageOptions {
  /** Image ID; generated when absent (c/image uses the config digest's hex). */
  id?: string;
  /** Top layer (ID, name or prefix); none for an image without layers. */
  topLayer?: string;
  /** Names (references). */
  names?: string[];
  /** The searchable digest. */
  digest?: string;
  /** Opaque metadata. */
  metadata?: string;
  /** Creation time (RFC 3339); now when absent. */
  created?: string;
}

/** Creates an image record (layer stores read, then images written). */
export async function createImage(core: StoreCore, opts: CreateImageOptions): Promise<Image> {
  return await core.withLocks({ layers: "r", images: "w" }, () => {
    let top = "";
    if (opts.topLayer) {
      const found = core.findLayer(opts.topLayer);
      if (found === undefined) throw new StorageError("layer-unknown");
      top = found.layer.id;
    }
    const image = newImage(opts.id || core.images.newID(), opts.created ?? nowRFC3339Nano());
    image.topLayer = top;
    image.names = [...new Set(opts.names ?? [])];
    image.digest = opts.digest ?? "";
    image.metadata = opts.metadata ?? "";
    return core.images.create(image);
  });
}

/**
 * Size of an image (layers and image stores read-locked by the caller): the
 * diff sizes of its top layer, mapped layers and all their ancestors, each
 * once, plus its big-data sizes.
 */
export async function imageSizeLocked(core: StoreCore, image: Image): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  for (const start of [image.topLayer, ...image.mappedTopLayers]) {
    let id = start;
    while (id !== "" && !seen.has(id)) {
      seen.add(id);
      const found = core.findLayer(id);
      if (found === undefined) {
        throw new StorageError("layer-unknown", `image ${image.id} layer ${id}`);
      }
      total += await layerSizeLocked(core, found.layer);
      id = found.layer.parent;
    }
  }
  for (const key of image.bigDataNames) total += image.bigDataSizes[key] ?? 0;
  return total;
}

/** A layer's size: its recorded diff size, else what the driver estimates. */
export async function layerSizeLocked(core: StoreCore, layer: Layer): Promise<number> {
  if (layer.uncompressedDigest !== "") return layer.uncompressedSize;
  const store = core.findLayer(layer.id)?.store ?? core.layers;
  return await core.driver.diffSize(store.ref(layer), undefined);
}
