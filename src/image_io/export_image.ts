/**
 * Exporting an image from a store to an OCI layout (`oci:DIR[:REF]`) or
 * OCI archive (`oci-archive:FILE[:REF]`).
 *
 * The stored manifest and config are written unchanged whenever the
 * layers come out byte-identical. Layers stored from an uncompressed blob
 * always do (the store keeps tar-split data, so the tar is reproduced byte
 * for byte). A compressed original cannot in general be reproduced: only
 * its digest is stored, and another compressor (Go's, pgzip, gzip(1)) or
 * level gives different bytes. c/image faces the same problem and, reading
 * from a store, offers the layers uncompressed under their DiffIDs and
 * rewrites the manifest. cstor recompresses with the original kind (same
 * media type); when the digest comes out different it writes a manifest
 * with the new layer digests and sizes. The config, and so the image ID
 * and every DiffID, stay the same; each layer's DiffID is checked on the
 * way out.
 *
 * @module
 */

import { mkdtemp } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { createHash } from "node:crypto";
import type { Store } from "../store.ts";
import type { Image } from "../records/image_record.ts";
import type { Layer } from "../records/layer_record.ts";
import { StorageError } from "../errors.ts";
import { Compression, type CompressionKind } from "../archive/compression.ts";
import { stableCompress } from "./stable_compress.ts";
import { ImageInputError } from "./errors.ts";
import {
  type Descriptor,
  type ImageManifest,
  parseConfig,
  parseJSON,
  parseManifest,
} from "./manifest.ts";
import { layerCompression, layerMediaType, MediaType, ociEquivalent } from "./media_types.ts";
import { OciLayoutWriter } from "./oci_writer.ts";
import { packDirectory } from "./tar_pack.ts";
import { buildManifest, synthesizeConfig } from "./export_documents.ts";
import type { ProgressHandler } from "./progress.ts";
import { MANIFEST_KEY } from "./storage_keys.ts";
import { parseTransportRef, type TransportRef } from "./transport_ref.ts";
import { normalizeImageName } from "./image_name.ts";

/** Options for {@link exportImage}. */
export interface ExportOptions {
  /** Receives progress events. */
  onProgress?: ProgressHandler;
}

/** One exported layer. */
export interface ExportedLayer {
  /** The store's layer ID. */
  id: string;
  /** Media type written in the manifest. */
  mediaType: string;
  /** Digest of the written blob. */
  digest: string;
  /** Size of the written blob. */
  size: number;
  /** Digest of the uncompressed tar. */
  diffID: string;
  /** True when the blob is the one the stored manifest names (byte-identical). */
  identical: boolean;
}

/** What an export wrote. */
export interface ExportResult {
  /** The image's ID. */
  image: string;
  /** Where it went. */
  destination: string;
  /** Digest of the manifest written. */
  manifestDigest: string;
  /** Digest of the config written. */
  configDigest: string;
  /** True when the stored manifest was written unchanged. */
  originalManifest: boolean;
  /** The layers, bottom first. */
  layers: ExportedLayer[];
}

/** What the store holds for the image. */
interface Stored {
  image: Image;
  layers: Layer[];
  /** The stored manifest's JSON and parsed form, when usable. */
  manifest?: { doc: Record<string, unknown>; parsed: ImageManifest; bytes: Uint8Array };
  config?: Uint8Array;
}

async function optionalBigData(
  store: Store,
  id: string,
  key: string,
): Promise<Uint8Array | undefined> {
  if (!(await store.listImageBigData(id)).includes(key)) return undefined;
  return await store.imageBigData(id, key);
}

/** An image by ID, name or prefix, else by its name normalised as `docker pull` would. */
export async function findImage(store: Store, key: string): Promise<Image | undefined> {
  const image = await store.image(key);
  if (image !== undefined) return image;
  let name: string;
  try {
    name = normalizeImageName(key);
  } catch {
    return undefined;
  }
  return await store.image(name);
}

async function loadStored(store: Store, key: string): Promise<Stored> {
  const image = await findImage(store, key);
  if (image === undefined) {
    throw new StorageError("image-unknown", `locating image ${JSON.stringify(key)}`);
  }
  const layers: Layer[] = [];
  for (let id = image.topLayer; id !== "";) {
    const layer = await store.layer(id);
    if (layer === undefined || layer.id !== id) {
      throw new StorageError("layer-unknown", `image ${image.id} layer ${id}`);
    }
    layers.unshift(layer);
    id = layer.parent;
  }
  const out: Stored = { image, layers };
  const bytes = await optionalBigData(store, image.id, MANIFEST_KEY);
  if (bytes === undefined) return out;
  let parsed;
  try {
    parsed = parseManifest(bytes, "", "stored manifest");
  } catch {
    return out; // not something this version can re-use; a new one is written
  }
  if (parsed.kind !== "manifest" || parsed.layers.length !== layers.length) return out;
  const config = await optionalBigData(store, image.id, parsed.config.digest);
  if (config === undefined) return out;
  return { ...out, manifest: { doc: parseJSON(bytes, "stored manifest"), parsed, bytes }, config };
}

/** The compression to write a layer with: its original one, where OCI has a type for it. */
function exportCompression(layer: Layer): CompressionKind {
  const kind = layer.compression as CompressionKind;
  return kind === Compression.none || kind === Compression.zstd ? kind : Compression.gzip;
}

/**
 * Exports image `key` (ID, name or ID prefix) to `destination`.
 *
 * @example
 * ```ts
 * const store = await openStore({ graphRoot: "/tmp/g", runRoot: "/tmp/r", driver: "vfs" });
 * const r = await exportImage(store, "example:1", "oci:/tmp/out:1");
 * console.log(r.manifestDigest, r.originalManifest);
 * ```
 */
export async function exportImage(
  store: Store,
  key: string,
  destination: string | TransportRef,
  options: ExportOptions = {},
): Promise<ExportResult> {
  const dest = typeof destination === "string" ? parseTransportRef(destination) : destination;
  if (dest.transport === "docker-archive") {
    throw new ImageInputError("bad-reference", "export writes oci: and oci-archive: destinations");
  }
  const stored = await loadStored(store, key);
  if (dest.transport === "oci") {
    return await writeLayout(store, stored, resolve(dest.path), dest, options);
  }
  const target = resolve(dest.path);
  const temp = await mkdtemp(join(dirname(target), ".tmp-oci-"));
  try {
    const result = await writeLayout(store, stored, temp, dest, options);
    await packDirectory(temp, target);
    return result;
  } finally {
    await Deno.remove(temp, { recursive: true }).catch(() => {});
  }
}

async function writeLayout(
  store: Store,
  stored: Stored,
  root: string,
  dest: TransportRef,
  options: ExportOptions,
): Promise<ExportResult> {
  const { image, layers } = stored;
  const onProgress = options.onProgress;
  const writer = new OciLayoutWriter(root);
  await writer.prepare();
  const orig = stored.manifest?.parsed;
  onProgress?.({
    kind: "start",
    layers: layers.length,
    bytes: layers.every((l) => l.uncompressedDigest !== "")
      ? layers.reduce((n, l) => n + l.uncompressedSize, 0)
      : -1,
  });
  const out: ExportedLayer[] = [];
  for (const [i, layer] of layers.entries()) {
    const want = orig?.layers[i];
    onProgress?.({
      kind: "layer",
      index: i,
      digest: want?.digest ?? layer.id,
      size: layer.uncompressedSize,
      reused: false,
    });
    const kind = exportCompression(layer);
    const exported = await exportLayer(store, writer, layer, kind, want, onProgress);
    const mediaType = want && layerCompression(want.mediaType) === kind
      ? ociEquivalent(want.mediaType)
      : layerMediaType(MediaType.ociManifest, kind)!;
    out.push({ id: layer.id, mediaType, ...exported, identical: exported.digest === want?.digest });
    onProgress?.({ kind: "layer-done", index: i });
  }
  let configBytes = stored.config;
  if (configBytes !== undefined) {
    const diffIDs = parseConfig(configBytes, "stored config").diffIDs;
    for (const [i, l] of out.entries()) {
      if (diffIDs[i] !== l.diffID) {
        throw new ImageInputError(
          "diff-id-mismatch",
          `layer ${layers[i].id}: its contents now have digest ${l.diffID}, the image config says ${
            diffIDs[i]
          }`,
        );
      }
    }
  } else {
    configBytes = synthesizeConfig(image, out.map((l) => l.diffID));
  }
  const config = await writer.writeBlobBytes(configBytes);
  const unchanged = orig !== undefined && orig.mediaType === MediaType.ociManifest &&
    out.every((l, i) => l.identical && l.mediaType === orig.layers[i].mediaType);
  const manifestBytes = unchanged
    ? stored.manifest!.bytes
    : buildManifest(stored.manifest?.doc, orig, config, out);
  const manifest = await writer.writeBlobBytes(manifestBytes);
  await writer.addToIndex({ mediaType: MediaType.ociManifest, ...manifest }, dest.ref);
  return {
    image: image.id,
    destination: `${dest.transport}:${dest.path}${dest.ref ? `:${dest.ref}` : ""}`,
    manifestDigest: manifest.digest,
    configDigest: config.digest,
    originalManifest: unchanged,
    layers: out,
  };
}

/** Writes one layer blob (or finds it already there); checks its DiffID. */
async function exportLayer(
  store: Store,
  writer: OciLayoutWriter,
  layer: Layer,
  kind: CompressionKind,
  want: Descriptor | undefined,
  onProgress: ProgressHandler | undefined,
): Promise<{ digest: string; size: number; diffID: string }> {
  // A blob the destination already has under the stored digest is the
  // original itself; no need to make it again.
  if (want && layer.uncompressedDigest && await writer.hasBlob(want.digest, want.size)) {
    if (layer.uncompressedSize >= 0) onProgress?.({ kind: "bytes", count: layer.uncompressedSize });
    return { digest: want.digest, size: want.size, diffID: layer.uncompressedDigest };
  }
  const tar = await store.diff(layer.id, { compression: Compression.none });
  const hash = createHash("sha256");
  const counted = tar.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        hash.update(chunk);
        onProgress?.({ kind: "bytes", count: chunk.length });
        controller.enqueue(chunk);
      },
    }),
  );
  const blob = await writer.writeBlob(stableCompress(counted, kind));
  const diffID = `sha256:${hash.digest("hex")}`;
  if (layer.uncompressedDigest !== "" && diffID !== layer.uncompressedDigest) {
    throw new ImageInputError(
      "diff-id-mismatch",
      `layer ${layer.id}: its contents now have digest ${diffID}, recorded DiffID is ${layer.uncompressedDigest}`,
    );
  }
  return { ...blob, diffID };
}
