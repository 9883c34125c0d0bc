/**
 * Parsing (and checking) the JSON documents of an image: descriptors,
 * single-image manifests (OCI and Docker schema 2), indexes / manifest
 * lists, and the few fields of the image config that storing needs.
 *
 * @module
 */

import { checkDigest } from "./blob_check.ts";
import { ImageInputError } from "./errors.ts";
import {
  isImageConfig,
  isImageIndex,
  isImageManifest,
  layerCompression,
  MediaType,
} from "./media_types.ts";

/** An image platform as indexes describe it. */
export interface Platform {
  /** Operating system (`linux`). */
  os: string;
  /** CPU architecture in Go's names (`amd64`, `arm64`). */
  architecture: string;
  /** CPU variant (`v7`, `v8`). */
  variant?: string;
}

/** A content descriptor. */
export interface Descriptor {
  /** What the blob is. */
  mediaType: string;
  /** `<algorithm>:<hex>` of the blob. */
  digest: string;
  /** Byte length; -1 when unknown (only for docker-archive layers). */
  size: number;
  /** Free-form annotations. */
  annotations?: Record<string, string>;
  /** Platform of an index entry. */
  platform?: Platform;
}

/** A single-image manifest. */
export interface ImageManifest {
  /** Tells manifests from indexes. */
  kind: "manifest";
  /** The manifest's own media type (OCI or Docker schema 2). */
  mediaType: string;
  /** The config blob. */
  config: Descriptor;
  /** The layer blobs, bottom first. */
  layers: Descriptor[];
}

/** An index / manifest list. */
export interface ImageIndex {
  /** Tells indexes from manifests. */
  kind: "index";
  /** The index's own media type (OCI index or Docker list). */
  mediaType: string;
  /** The entries. */
  manifests: Descriptor[];
}

/** What an image config says that matters for storing it. */
export interface ImageConfigInfo {
  /** `rootfs.diff_ids`: the digest of each layer's uncompressed tar. */
  diffIDs: string[];
  /** `created`, as written (undefined when absent). */
  created?: string;
  /** `os`. */
  os?: string;
  /** `architecture`. */
  architecture?: string;
  /** `variant`. */
  variant?: string;
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/** Parses a JSON document, with the document's name in any error. */
export function parseJSON(bytes: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch (err) {
    throw new ImageInputError("bad-json", `${what}: invalid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ImageInputError("bad-json", `${what}: not a JSON object`);
  }
  return value as Record<string, unknown>;
}

function stringMap(v: unknown, what: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "object" || Array.isArray(v)) {
    throw new ImageInputError("bad-json", `${what}: annotations must be an object`);
  }
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== "string") {
      throw new ImageInputError("bad-json", `${what}: annotation ${k} is not a string`);
    }
    out[k] = val;
  }
  return out;
}

function platformOf(v: unknown, what: string): Platform | undefined {
  if (v === undefined || v === null) return undefined;
  const p = v as Record<string, unknown>;
  if (typeof p !== "object" || typeof p.os !== "string" || typeof p.architecture !== "string") {
    throw new ImageInputError("bad-json", `${what}: platform needs os and architecture`);
  }
  const out: Platform = { os: p.os, architecture: p.architecture };
  if (typeof p.variant === "string" && p.variant !== "") out.variant = p.variant;
  return out;
}

/** Checks and copies one descriptor. */
export function parseDescriptor(v: unknown, what: string): Descriptor {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new ImageInputError("bad-json", `${what}: descriptor is not an object`);
  }
  const d = v as Record<string, unknown>;
  if (typeof d.mediaType !== "string" || d.mediaType === "") {
    throw new ImageInputError("bad-json", `${what}: descriptor has no mediaType`);
  }
  if (typeof d.size !== "number" || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw new ImageInputError(
      "bad-json",
      `${what}: descriptor size must be a non-negative integer`,
    );
  }
  const out: Descriptor = {
    mediaType: d.mediaType,
    digest: checkDigest(d.digest, what),
    size: d.size,
  };
  const annotations = stringMap(d.annotations, what);
  if (annotations) out.annotations = annotations;
  const platform = platformOf(d.platform, what);
  if (platform) out.platform = platform;
  return out;
}

/**
 * Parses a manifest or index whose descriptor announced `declaredType`
 * (empty when nothing announced one). The document's own `mediaType` must
 * agree with the announced one when both are there; schema 1 and unknown
 * types are refused.
 */
export function parseManifest(
  bytes: Uint8Array,
  declaredType: string,
  what: string,
): ImageManifest | ImageIndex {
  const doc = parseJSON(bytes, what);
  if (doc.schemaVersion === 1) {
    throw new ImageInputError("media-type", `${what}: Docker schema 1 manifests are not supported`);
  }
  if (doc.schemaVersion !== 2) {
    throw new ImageInputError(
      "bad-json",
      `${what}: unsupported schemaVersion ${doc.schemaVersion}`,
    );
  }
  const own = typeof doc.mediaType === "string" ? doc.mediaType : "";
  if (own !== "" && declaredType !== "" && own !== declaredType) {
    throw new ImageInputError(
      "media-type",
      `${what}: descriptor says ${declaredType} but the document says ${own}`,
    );
  }
  let type = own || declaredType;
  if (type === "") type = Array.isArray(doc.manifests) ? MediaType.ociIndex : MediaType.ociManifest;
  if (isImageIndex(type)) {
    if (!Array.isArray(doc.manifests)) {
      throw new ImageInputError("bad-json", `${what}: index has no manifests array`);
    }
    return {
      kind: "index",
      mediaType: type,
      manifests: doc.manifests.map((m, i) => parseDescriptor(m, `${what} manifests[${i}]`)),
    };
  }
  if (!isImageManifest(type)) {
    throw new ImageInputError("media-type", `${what}: unsupported manifest media type ${type}`);
  }
  if (!Array.isArray(doc.layers)) {
    throw new ImageInputError("bad-json", `${what}: manifest has no layers array`);
  }
  const config = parseDescriptor(doc.config, `${what} config`);
  if (!isImageConfig(config.mediaType)) {
    throw new ImageInputError(
      "media-type",
      `${what}: unsupported config media type ${config.mediaType}`,
    );
  }
  const layers = doc.layers.map((l, i) => {
    const d = parseDescriptor(l, `${what} layers[${i}]`);
    if (layerCompression(d.mediaType) === undefined) {
      throw new ImageInputError(
        "media-type",
        `${what} layers[${i}]: unsupported layer media type ${d.mediaType}`,
      );
    }
    return d;
  });
  return { kind: "manifest", mediaType: type, config, layers };
}

/** Reads `rootfs.diff_ids`, `created` and the platform fields of an image config. */
export function parseConfig(bytes: Uint8Array, what: string): ImageConfigInfo {
  const doc = parseJSON(bytes, what);
  const rootfs = doc.rootfs as Record<string, unknown> | undefined;
  if (typeof rootfs !== "object" || rootfs === null || !Array.isArray(rootfs.diff_ids)) {
    throw new ImageInputError("bad-json", `${what}: config has no rootfs.diff_ids`);
  }
  const info: ImageConfigInfo = {
    diffIDs: rootfs.diff_ids.map((d, i) => checkDigest(d, `${what} rootfs.diff_ids[${i}]`)),
  };
  if (typeof doc.created === "string" && doc.created !== "") info.created = doc.created;
  if (typeof doc.os === "string") info.os = doc.os;
  if (typeof doc.architecture === "string") info.architecture = doc.architecture;
  if (typeof doc.variant === "string" && doc.variant !== "") info.variant = doc.variant;
  return info;
}
