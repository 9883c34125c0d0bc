/**
 * UID/GID mappings: `{container_id, host_id, size}` ranges, as stored in
 * layer and container records (`uidmap`, `gidmap`).
 *
 * A layer's maps say how its on-disk (host) owners relate to the owners seen
 * inside the container: host = `host_id + (id − container_id)` for the range
 * holding `id`. An absent or empty map means host IDs are used as they are.
 *
 * @module
 */

import { StorageError } from "../errors.ts";

/**
 * One mapping range: container IDs `[container_id, container_id+size)` ↔ host IDs from `host_id`.
 *
 * @example
 * ```ts
 * import type { IDMap } from "@cstor/storage";
 * const userns: IDMap[] = [{ container_id: 0, host_id: 100000, size: 65536 }];
 * console.log(userns[0].host_id);
 * ```
 */
export interface IDMap {
  /** First ID of the range as seen inside the container. */
  container_id: number;
  /** First ID of the range on the host. */
  host_id: number;
  /** Number of IDs in the range. */
  size: number;
}

/** A UID map and a GID map together, either possibly absent (= host IDs). */
export interface IDMappings {
  uidMap?: IDMap[];
  gidMap?: IDMap[];
}

/** The kernel's largest UID/GID plus one; every ID must stay below it. */
const ID_LIMIT = 2 ** 32;

/**
 * Maps a container ID to the host ID the maps give it. Empty or absent maps
 * are the identity.
 *
 * @throws StorageError (`invalid-input`) when no range holds `id`.
 */
export function toHost(id: number, maps: readonly IDMap[] | undefined): number {
  if (maps === undefined || maps.length === 0) return id;
  for (const m of maps) {
    if (id >= m.container_id && id < m.container_id + m.size) {
      return m.host_id + (id - m.container_id);
    }
  }
  throw new StorageError("invalid-input", undefined, {
    message: `container ID ${id} cannot be mapped to a host ID`,
  });
}

/**
 * Maps a host ID back to the container ID the maps give it. Empty or absent
 * maps are the identity.
 *
 * @throws StorageError (`invalid-input`) when no range holds `id`.
 */
export function toContainer(id: number, maps: readonly IDMap[] | undefined): number {
  if (maps === undefined || maps.length === 0) return id;
  for (const m of maps) {
    if (id >= m.host_id && id < m.host_id + m.size) {
      return m.container_id + (id - m.host_id);
    }
  }
  throw new StorageError("invalid-input", undefined, {
    message: `host ID ${id} cannot be mapped to a container ID`,
  });
}

/** Like {@link toHost} but returns undefined instead of throwing. */
export function tryToHost(id: number, maps: readonly IDMap[] | undefined): number | undefined {
  if (maps === undefined || maps.length === 0) return id;
  for (const m of maps) {
    if (id >= m.container_id && id < m.container_id + m.size) {
      return m.host_id + (id - m.container_id);
    }
  }
  return undefined;
}

/** Like {@link toContainer} but returns undefined instead of throwing. */
export function tryToContainer(
  id: number,
  maps: readonly IDMap[] | undefined,
): number | undefined {
  if (maps === undefined || maps.length === 0) return id;
  for (const m of maps) {
    if (id >= m.host_id && id < m.host_id + m.size) {
      return m.container_id + (id - m.host_id);
    }
  }
  return undefined;
}

/** Go's `strconv.ParseUint(s, 10, 32)`: decimal digits only, below 2³². */
function parseUint32(s: string): number | undefined {
  if (!/^[0-9]+$/.test(s)) return undefined;
  const n = Number(s);
  return n < ID_LIMIT ? n : undefined;
}

/** Go's `%q` of a string slice: `["a" "b"]`. */
function quoteList(items: readonly string[]): string {
  return `[${items.map((s) => JSON.stringify(s)).join(" ")}]`;
}

/**
 * Parses the CLI/config form `cid:hid:size[:cid:hid:size…]` (one string, or
 * several whose ranges are concatenated). Empty strings contribute nothing.
 *
 * @param kind which setting is parsed, for the error text
 * @throws StorageError (`invalid-input`) with the Go message
 *   `initializing ID mappings: uid setting is malformed expected ["uint32:uint32:uint32"]: ["<spec>"]`
 */
export function parseIDMap(spec: string | readonly string[], kind: "uid" | "gid"): IDMap[] {
  const specs = typeof spec === "string" ? [spec] : spec;
  const malformed = (): StorageError =>
    new StorageError("invalid-input", undefined, {
      message: `initializing ID mappings: ${kind} setting is malformed expected ` +
        `["uint32:uint32:uint32"]: ${quoteList(specs)}`,
    });
  const out: IDMap[] = [];
  for (const one of specs) {
    if (one === "") continue;
    const parts = one.split(":");
    if (parts.length % 3 !== 0) throw malformed();
    for (let i = 0; i < parts.length; i += 3) {
      const cid = parseUint32(parts[i]);
      const hid = parseUint32(parts[i + 1]);
      const size = parseUint32(parts[i + 2]);
      if (cid === undefined || hid === undefined || size === undefined) throw malformed();
      out.push({ container_id: cid, host_id: hid, size });
    }
  }
  return out;
}

/**
 * The map a user (or group) gets from `/etc/subuid` (`/etc/subgid`): its
 * ranges, in file order, laid end to end from container ID 0.
 *
 * @param name user or group name as written in the file (`ALL` matches every line)
 * @param file the subordinate-ID file to read
 * @throws StorageError (`invalid-input`) when the file is malformed or has no range for `name`
 */
export function subIDMap(name: string, file: string = "/etc/subuid"): IDMap[] {
  const text = Deno.readTextFileSync(file);
  const out: IDMap[] = [];
  let next = 0;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const parts = line.split(":");
    if (parts.length !== 3) {
      throw new StorageError("invalid-input", undefined, {
        message: `cannot parse subuid/gid information: Format not correct for ${file} file`,
      });
    }
    if (parts[0] !== name && name !== "ALL") continue;
    const start = parseUint32(parts[1]);
    const length = parseUint32(parts[2]);
    if (start === undefined || length === undefined) {
      throw new StorageError("invalid-input", undefined, {
        message: `cannot parse subuid/gid information: Format not correct for ${file} file`,
      });
    }
    out.push({ container_id: next, host_id: start, size: length });
    next += length;
  }
  if (out.length === 0) {
    const what = file.endsWith("gid")
      ? "subgid ranges found for group"
      : "subuid ranges found for user";
    throw new StorageError("invalid-input", undefined, {
      message: `no ${what} ${JSON.stringify(name)} in ${file}`,
    });
  }
  return out;
}

/** True when both maps list the same ranges in the same order (absent equals empty). */
export function sameIDMaps(
  a: readonly IDMap[] | undefined,
  b: readonly IDMap[] | undefined,
): boolean {
  const x = a ?? [];
  const y = b ?? [];
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) {
    if (
      x[i].container_id !== y[i].container_id || x[i].host_id !== y[i].host_id ||
      x[i].size !== y[i].size
    ) return false;
  }
  return true;
}

/**
 * True when the ranges, in order, continue each other on both sides, so the
 * whole map is one shift `host = container + k` (what an idmapped mount or a
 * mount program can apply). Empty maps are contiguous.
 */
export function isContiguous(maps: readonly IDMap[] | undefined): boolean {
  if (maps === undefined || maps.length < 2) return true;
  let c = maps[0].container_id + maps[0].size;
  let h = maps[0].host_id + maps[0].size;
  for (let i = 1; i < maps.length; i++) {
    if (maps[i].container_id !== c || maps[i].host_id !== h) return false;
    c += maps[i].size;
    h += maps[i].size;
  }
  return true;
}

/** True when the mapping is the identity (no map for either kind). */
export function isIdentity(m: IDMappings | undefined): boolean {
  return (m?.uidMap?.length ?? 0) === 0 && (m?.gidMap?.length ?? 0) === 0;
}
