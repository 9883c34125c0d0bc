/**
 * UID/GID mappings: `{container_id, host_id, size}` ranges, as stored in
 * layer and container records (`uidmap`, `gidmap`).
 *
 * @module
 */

/** One mapping range: container IDs `[container_id, container_id+size)` ↔ host IDs from `host_id`. */
export interface IDMap {
  container_id: number;
  host_id: number;
  size: number;
}
