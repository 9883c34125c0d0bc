/**
 * Big-data items of layers, images and containers.
 *
 * @module
 */

import { StorageError } from "../errors.ts";
import type { StoreCore } from "../store_core.ts";
import type { BigDataInfo } from "../big_data.ts";
import type { Image } from "../records/image_record.ts";
import type { ImageStore } from "../images.ts";

function imageNotKnown(key: string): StorageError {
  return new StorageError("image-unknown", `locating image with ID ${JSON.stringify(key)}`);
}

function findImageOrThrow(core: StoreCore, key: string): { image: Image; store: ImageStore } {
  const found = core.findImage(key);
  if (found === undefined) throw imageNotKnown(key);
  return found;
}

/** Keys of an image's items. */
export async function listImageData(core: StoreCore, key: string): Promise<string[]> {
  return await core.withLocks(
    { images: "r" },
    () => [...findImageOrThrow(core, key).image.bigDataNames],
  );
}

/** Reads an image item whole. */
export async function imageData(core: StoreCore, key: string, name: string): Promise<Uint8Array> {
  return await core.withLocks({ images: "r" }, async () => {
    const { image, store } = findImageOrThrow(core, key);
    const file = await store.openBigData(image, name);
    return new Uint8Array(await new Response(file.readable).arrayBuffer());
  });
}

/** An image item's size. */
export async function imageDataSize(core: StoreCore, key: string, name: string): Promise<number> {
  return await core.withLocks({ images: "r" }, async () => {
    const { image, store } = findImageOrThrow(core, key);
    return await store.bigDataSize(image, name);
  });
}

/** An image item's digest. */
export async function imageDataDigest(core: StoreCore, key: string, name: string): Promise<string> {
  return await core.withLocks({ images: "r" }, () => {
    const { image, store } = findImageOrThrow(core, key);
    return store.bigDataDigest(image, name);
  });
}

/** Writes an image item (primary store only). */
export async function setImageData(
  core: StoreCore,
  key: string,
  name: string,
  data: ReadableStream<Uint8Array> | Uint8Array,
  manifestDigest?: (bytes: Uint8Array) => string,
): Promise<BigDataInfo> {
  return await core.withLocks({ images: "w" }, async () => {
    const image = core.images.find(key);
    if (image === undefined) {
      if (core.roImages.some((s) => s.find(key))) {
        throw new StorageError("read-only-store", `image ${key}`);
      }
      throw imageNotKnown(key);
    }
    return await core.images.setBigData(image, name, data, manifestDigest);
  });
}

/** Keys of a container's items. */
export async function listContainerData(core: StoreCore, key: string): Promise<string[]> {
  return await core.withLocks({ containers: "r" }, () => {
    const c = core.containers.find(key);
    if (c === undefined) throw new StorageError("container-unknown");
    return [...c.bigDataNames];
  });
}

/** Reads a container item whole. */
export async function containerData(
  core: StoreCore,
  key: string,
  name: string,
): Promise<Uint8Array> {
  return await core.withLocks({ containers: "r" }, async () => {
    const c = core.containers.find(key);
    if (c === undefined) throw new StorageError("container-unknown");
    const file = await core.containers.openBigData(c, name);
    return new Uint8Array(await new Response(file.readable).arrayBuffer());
  });
}

/** A container item's size and digest (computed and recorded when missing). */
export async function containerDataInfo(
  core: StoreCore,
  key: string,
  name: string,
): Promise<BigDataInfo> {
  return await core.withLocks({ containers: "w" }, async () => {
    const c = core.containers.find(key);
    if (c === undefined) throw new StorageError("container-unknown");
    return await core.containers.bigDataInfo(c, name);
  });
}

/** Writes a container item. */
export async function setContainerData(
  core: StoreCore,
  key: string,
  name: string,
  data: ReadableStream<Uint8Array> | Uint8Array,
): Promise<BigDataInfo> {
  return await core.withLocks({ containers: "w" }, async () => {
    const c = core.containers.find(key);
    if (c === undefined) throw new StorageError("container-unknown");
    return await core.containers.setBigData(c, name, data);
  });
}

/** Keys of a layer's items. */
export async function listLayerData(core: StoreCore, key: string): Promise<string[]> {
  return await core.withLocks({ layers: "r" }, () => {
    const found = core.findLayer(key);
    if (found === undefined) throw new StorageError("layer-unknown");
    return [...found.layer.bigDataNames];
  });
}

/** Reads a layer item whole. */
export async function layerData(core: StoreCore, key: string, name: string): Promise<Uint8Array> {
  return await core.withLocks({ layers: "r" }, async () => {
    const found = core.findLayer(key);
    if (found === undefined) throw new StorageError("layer-unknown");
    const file = await found.store.openBigData(found.layer, name);
    return new Uint8Array(await new Response(file.readable).arrayBuffer());
  });
}

/** Writes a layer item (primary store only). */
export async function setLayerData(
  core: StoreCore,
  key: string,
  name: string,
  data: ReadableStream<Uint8Array>,
): Promise<void> {
  await core.withLocks({ layers: "w" }, async () => {
    const layer = core.layers.find(key);
    if (layer === undefined) throw new StorageError("layer-unknown");
    await core.layers.setBigData(layer, name, data);
  });
}
