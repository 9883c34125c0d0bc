/**
 * Importing an image into a store, the way c/image's `containers-storage:`
 * destination stores one (see storage_keys.ts for the conventions), so the
 * result is interchangeable with what skopeo and podman write.
 *
 * Every layer is applied at most once: a layer whose chain ID is already in
 * the store is reused. Each layer's bytes are checked against the manifest
 * digest and its uncompressed digest against the config's DiffID. If
 * anything fails, the layers this import created are removed again and no
 * image record is left behind.
 *
 * @module
 */

import type { Store } from "../store.ts";
import type { Image } from "../records/image_record.ts";
import type { Layer } from "../records/layer_record.ts";
import { isStorageError } from "../errors.ts";
import { verifyingStream } from "./blob_check.ts";
import { ImageInputError } from "./errors.ts";
import type { Platform } from "./manifest.ts";
import type { ProgressHandler } from "./progress.ts";
import { type ImageSource, openSource } from "./source.ts";
import { parseTransportRef, type TransportRef } from "./transport_ref.ts";
import { normalizeImageName } from "./image_name.ts";
import {
  chainLayerID,
  digestHex,
  goTimeString,
  imageMetadata,
  MANIFEST_KEY,
  manifestKey,
  signatureKey,
} from "./storage_keys.ts";

/** Options for {@link importImage}. */
export interface ImportOptions {
  /** Names to give the image (normalised like `docker pull` names); default: what the source carries. */
  names?: string[];
  /** Platform to choose from an index (default: this machine's). */
  platform?: Platform;
  /** Receives progress events. */
  onProgress?: ProgressHandler;
  /** Stops the import (it is rolled back like a failed one). */
  signal?: AbortSignal;
}

/** One layer of an imported image. */
export interface ImportedLayer {
  /** The store's layer ID. */
  id: string;
  /** The blob digest as the manifest gives it. */
  digest: string;
  /** The uncompressed digest. */
  diffID: string;
  /** True when the layer was already in the store. */
  reused: boolean;
}

/** What an import did. */
export interface ImportResult {
  /** The image record as stored. */
  image: Image;
  /** The image's layers, bottom first. */
  layers: ImportedLayer[];
  /** False when an image with the same ID was already there (it got the new names and manifest). */
  created: boolean;
}

/**
 * Imports the image at `source` (`oci:DIR[:REF]`, `oci-archive:FILE[:REF]`
 * or `docker-archive:FILE[:REF]`) into `store`.
 *
 * @example
 * ```ts
 * const store = await openStore({ graphRoot: "/tmp/g", runRoot: "/tmp/r", driver: "vfs" });
 * const r = await importImage(store, "oci:/tmp/layout:latest", { names: ["example:1"] });
 * console.log(r.image.id, r.image.names); // …, ["docker.io/library/example:1"]
 * ```
 */
export async function importImage(
  store: Store,
  source: string | TransportRef,
  options: ImportOptions = {},
): Promise<ImportResult> {
  const names = (options.names ?? []).map(normalizeImageName);
  const ref = typeof source === "string" ? parseTransportRef(source) : source;
  const src = await openSource(ref, { platform: options.platform });
  try {
    return await storeImage(store, src, { ...options, names });
  } finally {
    await src.close();
  }
}

/**
 * Stores an opened source; see {@link importImage}. `options.names` are
 * used as given (already normalised).
 */
export async function storeImage(
  store: Store,
  src: ImageSource,
  options: Omit<ImportOptions, "platform"> = {},
): Promise<ImportResult> {
  const names = options.names ?? [];
  const created: string[] = [];
  let createdImage: string | undefined;
  try {
    const layers = await storeLayers(store, src, created, options);
    options.signal?.throwIfAborted();
    const top = layers.at(-1)?.id ?? "";
    const id = digestHex(src.config.digest);
    let image = await exactImage(store, id);
    if (image === undefined) {
      try {
        image = await store.createImage({
          id,
          topLayer: top || undefined,
          digest: src.index?.digest ?? src.manifest.digest,
          created: goTimeString(src.config.parsed.created),
        });
        createdImage = id;
      } catch (err) {
        // Someone else stored the same image meanwhile: use theirs.
        if (!isStorageError(err, "duplicate-id")) throw err;
        image = await exactImage(store, id);
        if (image === undefined) throw err;
      }
    }
    if (image.topLayer !== top) {
      throw new ImageInputError(
        "conflict",
        `image with ID ${id} already exists, but uses a different top layer: that ID is already in use`,
      );
    }
    const oldNames = image.names;
    await writeBigData(store, id, src);
    await store.setMetadata(id, imageMetadata(src.manifest.digest));
    const wanted = names.length > 0 ? names : suggested(src);
    const finalNames = [...new Set([...wanted, ...oldNames])];
    if (finalNames.length > 0) await store.setNames(id, finalNames);
    const stored = await exactImage(store, id);
    if (stored === undefined) throw new Error(`image ${id} disappeared while it was imported`);
    return { image: stored, layers, created: createdImage !== undefined };
  } catch (err) {
    await rollBack(store, createdImage, created);
    throw err;
  }
}

function suggested(src: ImageSource): string[] {
  const out: string[] = [];
  for (const n of src.suggestedNames) {
    try {
      out.push(normalizeImageName(n));
    } catch {
      // A tag this version cannot parse is not worth failing the import for.
    }
  }
  return out;
}

async function exactImage(store: Store, id: string): Promise<Image | undefined> {
  const image = await store.image(id);
  return image?.id === id ? image : undefined;
}

async function exactLayer(store: Store, id: string): Promise<Layer | undefined> {
  const layer = await store.layer(id);
  return layer?.id === id ? layer : undefined;
}

/** Applies (or finds) every layer, bottom first; records the IDs it created in `created`. */
async function storeLayers(
  store: Store,
  src: ImageSource,
  created: string[],
  options: Pick<ImportOptions, "onProgress" | "signal">,
): Promise<ImportedLayer[]> {
  const { onProgress, signal } = options;
  const descriptors = src.manifest.parsed.layers;
  const diffIDs = src.config.parsed.diffIDs;
  const total = descriptors.every((d) => d.size >= 0)
    ? descriptors.reduce((n, d) => n + d.size, 0)
    : -1;
  onProgress?.({ kind: "start", layers: descriptors.length, bytes: total });
  const out: ImportedLayer[] = [];
  let parent = "";
  for (const [i, desc] of descriptors.entries()) {
    signal?.throwIfAborted();
    const diffID = diffIDs[i];
    const id = chainLayerID(parent, diffID);
    let layer = await exactLayer(store, id);
    onProgress?.({
      kind: "layer",
      index: i,
      digest: desc.digest,
      size: desc.size,
      reused: !!layer,
    });
    if (layer === undefined) {
      const what = `layer ${i + 1}`;
      const diff = verifyingStream(
        abortable(await src.openLayer(i), signal),
        desc,
        what,
        onProgress && ((count) => onProgress({ kind: "bytes", count })),
      );
      try {
        layer = await store.createLayer({ id, parent: parent || undefined, diff });
        created.push(id);
      } catch (err) {
        if (!isStorageError(err, "duplicate-id")) throw err;
        layer = await exactLayer(store, id);
        if (layer === undefined) throw err;
      }
      checkApplied(layer, desc.digest, diffID, what);
    }
    if (layer.uncompressedDigest !== "" && layer.uncompressedDigest !== diffID) {
      throw new ImageInputError(
        "diff-id-mismatch",
        `layer ${
          i + 1
        }: stored layer ${id} has DiffID ${layer.uncompressedDigest}, the config says ${diffID}`,
      );
    }
    onProgress?.({ kind: "layer-done", index: i });
    out.push({ id, digest: desc.digest, diffID, reused: !created.includes(id) });
    parent = id;
  }
  return out;
}

/** `input`, failing with the signal's reason once it is aborted. */
function abortable(
  input: ReadableStream<Uint8Array>,
  signal: AbortSignal | undefined,
): ReadableStream<Uint8Array> {
  if (signal === undefined) return input;
  return input.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        signal.throwIfAborted();
        controller.enqueue(chunk);
      },
    }),
  );
}

/** The digests the store measured must be the ones the manifest and config promised. */
function checkApplied(layer: Layer, digest: string, diffID: string, what: string): void {
  if (
    layer.compressedDigest !== "" && digest.startsWith("sha256:") &&
    layer.compressedDigest !== digest
  ) {
    throw new ImageInputError(
      "digest-mismatch",
      `${what}: digest mismatch: expected ${digest}, got ${layer.compressedDigest}`,
    );
  }
  if (layer.uncompressedDigest !== diffID) {
    throw new ImageInputError(
      "diff-id-mismatch",
      `${what}: uncompressed digest ${layer.uncompressedDigest} does not match the config's DiffID ${diffID}`,
    );
  }
}

async function writeBigData(store: Store, id: string, src: ImageSource): Promise<void> {
  await store.setImageBigData(id, src.config.digest, src.config.bytes);
  if (src.index) await store.setImageBigData(id, manifestKey(src.index.digest), src.index.bytes);
  await store.setImageBigData(id, manifestKey(src.manifest.digest), src.manifest.bytes);
  await store.setImageBigData(id, MANIFEST_KEY, src.manifest.bytes);
  await store.setImageBigData(id, signatureKey(src.manifest.digest), new Uint8Array());
}

/** Removes what a failed import created: the image record, then its new layers, top first. */
async function rollBack(store: Store, image: string | undefined, layers: string[]): Promise<void> {
  if (image !== undefined) await store.delete(image).catch(() => {});
  for (const id of [...layers].reverse()) {
    // A layer another process has started to build on stays.
    await store.deleteLayer(id).catch(() => {});
  }
}
