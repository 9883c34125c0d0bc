/**
 * Writing an OCI image layout from layer tars and a config: what a build
 * tool would produce, made here with cstor's own tar and compression code.
 *
 * @module
 */

import { Compression, type CompressionKind } from "../src/archive/compression.ts";
import { stableCompress } from "../src/image_io/stable_compress.ts";
import { sha256Digest } from "../src/image_io/blob_check.ts";
import { layerMediaType, MediaType } from "../src/image_io/media_types.ts";
import { OciLayoutWriter } from "../src/image_io/oci_writer.ts";
import { hostPlatform } from "../src/image_io/platform.ts";

/** One layer to write. */
export interface LayerInput {
  /** The uncompressed tar. */
  tar: Uint8Array;
  /** How to store it (default gzip). */
  compression?: CompressionKind;
}

/** What {@link writeOciImage} wrote. */
export interface BuiltImage {
  /** `oci:DIR:REF`. */
  location: string;
  /** Digest of the manifest. */
  manifestDigest: string;
  /** Digest of the config. */
  configDigest: string;
  /** The layers as the manifest lists them, with their DiffIDs. */
  layers: { mediaType: string; digest: string; size: number; diffID: string }[];
}

/** Options for {@link writeOciImage}. */
export interface BuildOptions {
  /** Layers, bottom first. */
  layers: LayerInput[];
  /** The config's `config` part (Cmd, Env, …). */
  runConfig?: Record<string, unknown>;
  /** `created` of the config. */
  created?: string;
  /** History `created_by` per layer. */
  history?: string[];
  /** Ref name in `index.json` (default `latest`). */
  ref?: string;
}

async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Writes (or adds to) the OCI layout at `dir`. */
export async function writeOciImage(dir: string, options: BuildOptions): Promise<BuiltImage> {
  const writer = new OciLayoutWriter(dir);
  await writer.prepare();
  const layers = [];
  for (const l of options.layers) {
    const kind = l.compression ?? Compression.gzip;
    const blob = await bytesOf(stableCompress(ReadableStream.from([l.tar]), kind));
    const written = await writer.writeBlobBytes(blob);
    layers.push({
      mediaType: layerMediaType(MediaType.ociManifest, kind)!,
      ...written,
      diffID: sha256Digest(l.tar),
    });
  }
  const platform = hostPlatform();
  const config = new TextEncoder().encode(JSON.stringify({
    created: options.created ?? "2024-01-01T00:00:00Z",
    architecture: platform.architecture,
    os: platform.os,
    config: options.runConfig ?? {},
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffID) },
    history: layers.map((_, i) => ({
      created: options.created ?? "2024-01-01T00:00:00Z",
      created_by: options.history?.[i] ?? `layer ${i + 1}`,
    })),
  }));
  const configBlob = await writer.writeBlobBytes(config);
  const manifest = new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, ...configBlob },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  }));
  const manifestBlob = await writer.writeBlobBytes(manifest);
  const ref = options.ref ?? "latest";
  await writer.addToIndex({ mediaType: MediaType.ociManifest, ...manifestBlob }, ref);
  return {
    location: `oci:${dir}:${ref}`,
    manifestDigest: manifestBlob.digest,
    configDigest: configBlob.digest,
    layers,
  };
}
