/**
 * The container record (records.md §5) and its JSON form.
 *
 * @module
 */

import type { IDMap } from "../archive/idmap.ts";
import { FieldReader, omitEmpty, omitEmptyMap, sortFlags } from "./fields.ts";
import { copyRecord } from "./copy.ts";

/**
 * A container as stored in `containers.json` / `volatile-containers.json`.
 *
 * @example
 * ```ts
 * import { openStore } from "@cstor/storage";
 * const store = await openStore({ graphRoot: "/tmp/g", runRoot: "/tmp/r", driver: "vfs" });
 * for (const c of await store.containers()) console.log(c.id, c.names, c.imageID, c.layerID);
 * ```
 */
export interface Container {
  /** Container ID. */
  id: string;
  /** Names, unique among containers. */
  names: string[];
  /** The image it was created from (`""` for none). Always written. */
  imageID: string;
  /** Its read-write layer. Always written. */
  layerID: string;
  /** Opaque caller data. */
  metadata: string;
  /** Big-data keys in insertion order. */
  bigDataNames: string[];
  /** Byte size per big-data key. */
  bigDataSizes: Record<string, number>;
  /** Digest per big-data key. */
  bigDataDigests: Record<string, string>;
  /** Creation time, RFC 3339 (kept exactly as read). */
  created: string;
  /** UID mapping requested for the container. */
  uidMap: IDMap[];
  /** GID mapping requested for the container. */
  gidMap: IDMap[];
  /** Flags: `MountLabel`, `ProcessLabel`, `MountOpts`, `Volatile`, … */
  flags: Record<string, unknown>;
  /** True when the record lives in `volatile-containers.json`. Not stored. */
  volatile: boolean;
  /** Members this version does not know, written back unchanged. */
  extra: Record<string, unknown>;
}

/** A new, empty container record. */
export function newContainer(id: string, created: string): Container {
  return {
    id,
    names: [],
    imageID: "",
    layerID: "",
    metadata: "",
    bigDataNames: [],
    bigDataSizes: {},
    bigDataDigests: {},
    created,
    uidMap: [],
    gidMap: [],
    flags: {},
    volatile: false,
    extra: {},
  };
}

/** Decodes one record of a container file. */
export function containerFromJSON(
  raw: Record<string, unknown>,
  path: string,
  index: number,
): Container {
  const f = new FieldReader(raw, path, index);
  const c = newContainer(f.string("id"), f.string("created") || "0001-01-01T00:00:00Z");
  c.names = f.strings("names");
  c.imageID = f.string("image");
  c.layerID = f.string("layer");
  c.metadata = f.string("metadata");
  c.bigDataNames = f.strings("big-data-names");
  c.bigDataSizes = f.intMap("big-data-sizes");
  c.bigDataDigests = f.stringMap("big-data-digests");
  c.uidMap = f.idMaps("uidmap");
  c.gidMap = f.idMaps("gidmap");
  c.flags = f.object("flags");
  c.extra = f.extra();
  return c;
}

/** The JSON object for a container, keys in upstream order. */
export function containerToJSON(c: Container): Record<string, unknown> {
  return {
    id: c.id,
    names: omitEmpty(c.names),
    image: c.imageID,
    layer: c.layerID,
    metadata: omitEmpty(c.metadata),
    "big-data-names": omitEmpty(c.bigDataNames),
    "big-data-sizes": omitEmptyMap(c.bigDataSizes),
    "big-data-digests": omitEmptyMap(c.bigDataDigests),
    created: c.created,
    uidmap: omitEmpty(c.uidMap),
    gidmap: omitEmpty(c.gidMap),
    flags: sortFlags(c.flags),
    ...c.extra,
  };
}

/** A deep copy, so callers cannot change the store's records in place. */
export function copyContainer(c: Container): Container {
  return copyRecord(c);
}
