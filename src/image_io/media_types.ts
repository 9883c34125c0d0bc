/**
 * The media types an image import or export meets, and what each means for
 * a layer's compression. Anything not listed here is refused by name, so a
 * new or foreign artifact type fails loudly instead of being stored wrongly.
 *
 * @module
 */

import { Compression, type CompressionKind } from "../archive/compression.ts";

/** Media types of manifests, indexes, configs and layers (OCI and Docker schema 2). */
export const MediaType = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayer: "application/vnd.oci.image.layer.v1.tar",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  ociLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  ociForeignLayer: "application/vnd.oci.image.layer.nondistributable.v1.tar",
  ociForeignLayerGzip: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  ociForeignLayerZstd: "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayer: "application/vnd.docker.image.rootfs.diff.tar",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  dockerForeignLayerGzip: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  dockerSchema1: "application/vnd.docker.distribution.manifest.v1+json",
  dockerSchema1Signed: "application/vnd.docker.distribution.manifest.v1+prettyjws",
} as const;

/** True for the media type of a single-image manifest this code reads. */
export function isImageManifest(mediaType: string): boolean {
  return mediaType === MediaType.ociManifest || mediaType === MediaType.dockerManifest;
}

/** True for the media type of a manifest list / image index. */
export function isImageIndex(mediaType: string): boolean {
  return mediaType === MediaType.ociIndex || mediaType === MediaType.dockerList;
}

/** True for a config media type this code reads. */
export function isImageConfig(mediaType: string): boolean {
  return mediaType === MediaType.ociConfig || mediaType === MediaType.dockerConfig;
}

/**
 * What compression a layer media type announces; undefined for a type that
 * is not a layer type. Docker's gzip type is also used (by docker-archive
 * sources) for layers that are in fact plain tar, so the announced kind is
 * only a hint: the bytes decide (compression is detected when applied).
 */
export function layerCompression(mediaType: string): CompressionKind | undefined {
  switch (mediaType) {
    case MediaType.ociLayer:
    case MediaType.ociForeignLayer:
    case MediaType.dockerLayer:
      return Compression.none;
    case MediaType.ociLayerGzip:
    case MediaType.ociForeignLayerGzip:
    case MediaType.dockerLayerGzip:
    case MediaType.dockerForeignLayerGzip:
      return Compression.gzip;
    case MediaType.ociLayerZstd:
    case MediaType.ociForeignLayerZstd:
      return Compression.zstd;
    default:
      return undefined;
  }
}

/**
 * The layer media type for `kind` in the manifest flavour of `manifestType`;
 * undefined when that flavour has no type for it (Docker has no zstd type;
 * neither has one for bzip2 or xz).
 */
export function layerMediaType(
  manifestType: string,
  kind: CompressionKind,
): string | undefined {
  const docker = manifestType === MediaType.dockerManifest;
  switch (kind) {
    case Compression.none:
      return docker ? MediaType.dockerLayer : MediaType.ociLayer;
    case Compression.gzip:
      return docker ? MediaType.dockerLayerGzip : MediaType.ociLayerGzip;
    case Compression.zstd:
      return docker ? undefined : MediaType.ociLayerZstd;
    default:
      return undefined;
  }
}

/** The OCI equivalent of a Docker layer or config media type (OCI types map to themselves). */
export function ociEquivalent(mediaType: string): string {
  switch (mediaType) {
    case MediaType.dockerLayer:
      return MediaType.ociLayer;
    case MediaType.dockerLayerGzip:
      return MediaType.ociLayerGzip;
    case MediaType.dockerForeignLayerGzip:
      return MediaType.ociForeignLayerGzip;
    case MediaType.dockerConfig:
      return MediaType.ociConfig;
    case MediaType.dockerManifest:
      return MediaType.ociManifest;
    case MediaType.dockerList:
      return MediaType.ociIndex;
    default:
      return mediaType;
  }
}
