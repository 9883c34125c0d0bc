/**
 * The documents an export writes when the stored ones cannot be used as
 * they are: a minimal config for an image stored without one, and an OCI
 * manifest for blobs that differ from the stored manifest's.
 *
 * @module
 */

import type { Image } from "../records/image_record.ts";
import type { Descriptor, ImageManifest } from "./manifest.ts";
import { MediaType, ociEquivalent } from "./media_types.ts";
import { hostPlatform } from "./platform.ts";

/** A layer as written: the fields a manifest descriptor needs. */
export interface WrittenLayer {
  /** Media type for the manifest. */
  mediaType: string;
  /** Digest of the written blob. */
  digest: string;
  /** Size of the written blob. */
  size: number;
}

/** A minimal OCI config for an image the store has none for. */
export function synthesizeConfig(image: Image, diffIDs: string[]): Uint8Array {
  const p = hostPlatform();
  return new TextEncoder().encode(JSON.stringify({
    created: image.created,
    architecture: p.architecture,
    os: p.os,
    config: {},
    rootfs: { type: "layers", diff_ids: diffIDs },
  }));
}

/**
 * An OCI manifest for the written blobs: the stored manifest's other
 * fields and per-descriptor extras (annotations, URLs) kept, Docker media
 * types turned into their OCI equivalents.
 */
export function buildManifest(
  doc: Record<string, unknown> | undefined,
  orig: ImageManifest | undefined,
  config: { digest: string; size: number },
  layers: WrittenLayer[],
): Uint8Array {
  const origLayers = (doc?.layers ?? []) as Record<string, unknown>[];
  const origConfig = (doc?.config ?? {}) as Record<string, unknown>;
  const descriptor = (
    extra: Record<string, unknown>,
    d: Omit<Descriptor, "annotations" | "platform">,
  ) => ({
    ...extra,
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
  });
  const out: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: descriptor(origConfig, {
      mediaType: ociEquivalent(orig?.config.mediaType ?? MediaType.ociConfig),
      ...config,
    }),
    layers: layers.map((l, i) => descriptor(origLayers[i] ?? {}, l)),
  };
  for (const [k, v] of Object.entries(doc ?? {})) if (!(k in out)) out[k] = v;
  return new TextEncoder().encode(JSON.stringify(out));
}
