/**
 * The layer record (records.md §2) and its JSON form.
 *
 * @module
 */

import type { IDMap } from "../archive/idmap.ts";
import { FieldReader, omitEmpty, sortFlags } from "./fields.ts";
import { copyRecord } from "./copy.ts";

/**
 * A layer as stored in `layers.json` / `volatile-layers.json`, plus in-memory state.
 *
 * @example
 * ```ts
 * import { openStore } from "@cstor/storage";
 * const store = await openStore({ graphRoot: "/tmp/g", runRoot: "/tmp/r", driver: "vfs" });
 * for (const layer of await store.layers()) console.log(layer.id, layer.parent, layer.uncompressedDigest);
 * ```
 */
export interface Layer {
  /** Layer ID (normally 64 lowercase hex characters). */
  id: string;
  /** Alternative names, unique within the layer store. */
  names: string[];
  /** Parent layer ID; `""` for a base layer. */
  parent: string;
  /** Opaque caller data. */
  metadata: string;
  /** SELinux label used when mounting. */
  mountLabel: string;
  /** Creation time, RFC 3339 (kept exactly as read). */
  created: string;
  /** Digest of the blob exactly as given to applydiff (compressed or not). */
  compressedDigest: string;
  /** Byte length of that blob. */
  compressedSize: number;
  /** Digest of the uncompressed tar stream (the "DiffID"). */
  uncompressedDigest: string;
  /** Byte length of the uncompressed stream. */
  uncompressedSize: number;
  /** Detected compression of the applied input: 0 none, 1 bzip2, 2 gzip, 3 xz, 4 zstd. */
  compression: number;
  /** Sorted unique UIDs seen in the applied tar headers. */
  uidSet: number[];
  /** Sorted unique GIDs seen in the applied tar headers. */
  gidSet: number[];
  /** Arbitrary flags; `incomplete: true` marks an interrupted creation or deletion. */
  flags: Record<string, unknown>;
  /** UID mapping the on-disk contents use (empty: host IDs). */
  uidMap: IDMap[];
  /** GID mapping the on-disk contents use. */
  gidMap: IDMap[];
  /** Keys of layer big-data items, in insertion order. */
  bigDataNames: string[];
  /** True for layers of additional (read-only) stores. Not stored. */
  readOnly: boolean;
  /** True when the record lives in `volatile-layers.json`. Not stored. */
  volatile: boolean;
  /** Where the layer is mounted (from `mountpoints.json`); `""` when not mounted. Not stored. */
  mountPoint: string;
  /** How many times it is mounted (from `mountpoints.json`). Not stored. */
  mountCount: number;
  /** Members this version does not know, written back unchanged. */
  extra: Record<string, unknown>;
}

/** True when the layer carries the `incomplete` flag (only a JSON `true` counts). */
export function isIncomplete(layer: Layer): boolean {
  return layer.flags["incomplete"] === true;
}

/**
 * Flag naming the staging directory whose contents an applydiff is
 * swapping into the layer. It is saved, with the new diff fields, before
 * the swap and cleared after it; a writer killed in between leaves it, and
 * the next writer finishes the swap (LayerStore's load-time repair).
 */
export const APPLYING_FLAG = "cstor.applying";

/** The staging directory name an interrupted applydiff left in the record, if any. */
export function pendingApply(layer: Layer): string | undefined {
  const name = layer.flags[APPLYING_FLAG];
  return typeof name === "string" ? name : undefined;
}

/** A new, empty layer record. */
export function newLayer(id: string, created: string): Layer {
  return {
    id,
    names: [],
    parent: "",
    metadata: "",
    mountLabel: "",
    created,
    compressedDigest: "",
    compressedSize: 0,
    uncompressedDigest: "",
    uncompressedSize: 0,
    compression: 0,
    uidSet: [],
    gidSet: [],
    flags: {},
    uidMap: [],
    gidMap: [],
    bigDataNames: [],
    readOnly: false,
    volatile: false,
    mountPoint: "",
    mountCount: 0,
    extra: {},
  };
}

/** Decodes one record of a layer file; type errors name the file and record. */
export function layerFromJSON(raw: Record<string, unknown>, path: string, index: number): Layer {
  const f = new FieldReader(raw, path, index);
  const layer = newLayer(f.string("id"), f.string("created") || "0001-01-01T00:00:00Z");
  layer.names = f.strings("names");
  layer.parent = f.string("parent");
  layer.metadata = f.string("metadata");
  layer.mountLabel = f.string("mountlabel");
  layer.compressedDigest = f.string("compressed-diff-digest");
  layer.compressedSize = f.int("compressed-size");
  layer.uncompressedDigest = f.string("diff-digest");
  layer.uncompressedSize = f.int("diff-size");
  layer.compression = f.int("compression");
  layer.uidSet = f.uints("uidset");
  layer.gidSet = f.uints("gidset");
  layer.flags = f.object("flags");
  layer.uidMap = f.idMaps("uidmap");
  layer.gidMap = f.idMaps("gidmap");
  layer.bigDataNames = f.strings("big-data-names");
  layer.extra = f.extra();
  return layer;
}

/** The JSON object for a layer, keys in upstream order, zero values omitted. */
export function layerToJSON(layer: Layer): Record<string, unknown> {
  return {
    id: layer.id,
    names: omitEmpty(layer.names),
    parent: omitEmpty(layer.parent),
    metadata: omitEmpty(layer.metadata),
    mountlabel: omitEmpty(layer.mountLabel),
    created: layer.created,
    "compressed-diff-digest": omitEmpty(layer.compressedDigest),
    "compressed-size": omitEmpty(layer.compressedSize),
    "diff-digest": omitEmpty(layer.uncompressedDigest),
    "diff-size": omitEmpty(layer.uncompressedSize),
    compression: omitEmpty(layer.compression),
    uidset: omitEmpty(layer.uidSet),
    gidset: omitEmpty(layer.gidSet),
    flags: sortFlags(layer.flags),
    uidmap: omitEmpty(layer.uidMap),
    gidmap: omitEmpty(layer.gidMap),
    "big-data-names": omitEmpty(layer.bigDataNames),
    ...layer.extra,
  };
}

/** A deep copy, so callers cannot change the store's records in place. */
export function copyLayer(layer: Layer): Layer {
  return copyRecord(layer);
}
