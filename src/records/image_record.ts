/**
 * The image record (records.md §3) and its JSON form.
 *
 * @module
 */

import { FieldReader, omitEmpty, omitEmptyMap, sortFlags } from "./fields.ts";
import { copyRecord } from "./copy.ts";

/**
 * An image as stored in `images.json`, plus in-memory state.
 *
 * @example
 * ```ts
 * import { openStore } from "@cstor/storage";
 * const store = await openStore({ graphRoot: "/tmp/g", runRoot: "/tmp/r", driver: "vfs" });
 * for (const image of await store.images()) console.log(image.id, image.names, image.topLayer);
 * ```
 */
export interface Image {
  /** Image ID (c/image uses the config digest's hex). */
  id: string;
  /** The "searchable" digest. */
  digest: string;
  /** Names, unique within the image store (usually references). */
  names: string[];
  /** Names assigned now or before, most recent first. */
  namesHistory: string[];
  /** Top layer ID; `""` for an image without layers. */
  topLayer: string;
  /** IDs of ID-mapped copies of the top layer. */
  mappedTopLayers: string[];
  /** Opaque caller data (c/image stores JSON here). */
  metadata: string;
  /** Big-data keys in insertion order. */
  bigDataNames: string[];
  /** Byte size per big-data key. */
  bigDataSizes: Record<string, number>;
  /** Digest per big-data key. */
  bigDataDigests: Record<string, string>;
  /** Creation time, RFC 3339 (kept exactly as read). */
  created: string;
  /** Arbitrary flags. */
  flags: Record<string, unknown>;
  /** `digest` first, then the digests of `manifest*` items. Not stored. */
  digests: string[];
  /** True for images of additional (read-only) stores. Not stored. */
  readOnly: boolean;
  /** Members this version does not know, written back unchanged. */
  extra: Record<string, unknown>;
}

/** A new, empty image record. */
export function newImage(id: string, created: string): Image {
  return {
    id,
    digest: "",
    names: [],
    namesHistory: [],
    topLayer: "",
    mappedTopLayers: [],
    metadata: "",
    bigDataNames: [],
    bigDataSizes: {},
    bigDataDigests: {},
    created,
    flags: {},
    digests: [],
    readOnly: false,
    extra: {},
  };
}

/** Decodes one record of `images.json`. */
export function imageFromJSON(raw: Record<string, unknown>, path: string, index: number): Image {
  const f = new FieldReader(raw, path, index);
  const image = newImage(f.string("id"), f.string("created") || "0001-01-01T00:00:00Z");
  image.digest = f.string("digest");
  image.names = f.strings("names");
  image.namesHistory = f.strings("names-history");
  image.topLayer = f.string("layer");
  image.mappedTopLayers = f.strings("mapped-layers");
  image.metadata = f.string("metadata");
  image.bigDataNames = f.strings("big-data-names");
  image.bigDataSizes = f.intMap("big-data-sizes");
  image.bigDataDigests = f.stringMap("big-data-digests");
  image.flags = f.object("flags");
  image.extra = f.extra();
  return image;
}

/** The JSON object for an image, keys in upstream order, zero values omitted. */
export function imageToJSON(image: Image): Record<string, unknown> {
  return {
    id: image.id,
    digest: omitEmpty(image.digest),
    names: omitEmpty(image.names),
    "names-history": omitEmpty(image.namesHistory),
    layer: omitEmpty(image.topLayer),
    "mapped-layers": omitEmpty(image.mappedTopLayers),
    metadata: omitEmpty(image.metadata),
    "big-data-names": omitEmpty(image.bigDataNames),
    "big-data-sizes": omitEmptyMap(image.bigDataSizes),
    "big-data-digests": omitEmptyMap(image.bigDataDigests),
    created: image.created,
    flags: sortFlags(image.flags),
    ...image.extra,
  };
}

/** A deep copy, so callers cannot change the store's records in place. */
export function copyImage(image: Image): Image {
  return copyRecord(image);
}
