/**
 * The ID-map flags of create-layer, import-layer and create-container
 * (spec/cli.md §2.1).
 *
 * @module
 */

import type { FlagSpec, FlagValues } from "./flags.ts";
import { flagBool, flagList } from "./flags.ts";
import { type IDMap, parseIDMap, subIDMap } from "../archive/idmap.ts";

/** The flags. */
export const IDMAP_FLAGS: FlagSpec[] = [
  { long: "hostuidmap", kind: "bool", help: "Force host UID map" },
  { long: "hostgidmap", kind: "bool", help: "Force host GID map" },
  { long: "uidmap", kind: "list", help: "UID map" },
  { long: "gidmap", kind: "list", help: "GID map" },
  { long: "subuidmap", kind: "string", help: "subuid UID map for a user" },
  { long: "subgidmap", kind: "string", help: "subgid GID map for a group" },
];

/** What the flags ask for. */
export interface IDMapRequest {
  uidMap?: IDMap[];
  gidMap?: IDMap[];
  hostUIDMapping: boolean;
  hostGIDMapping: boolean;
}

/** Reads the ID-map flags; throws upstream's messages for bad combinations or specs. */
export function idMapRequest(values: FlagValues): IDMapRequest {
  const hostUID = flagBool(values, "hostuidmap");
  const hostGID = flagBool(values, "hostgidmap");
  const uidSpecs = flagList(values, "uidmap");
  const gidSpecs = flagList(values, "gidmap");
  let subUser = values.get("subuidmap") as string | undefined;
  let subGroup = values.get("subgidmap") as string | undefined;
  if (subUser !== undefined && subGroup === undefined) subGroup = subUser;
  if (subGroup !== undefined && subUser === undefined) subUser = subGroup;
  if (hostUID && (uidSpecs.length > 0 || subUser !== undefined)) {
    throw new Error("host uid map specified along with UID mapping");
  }
  if (hostGID && (gidSpecs.length > 0 || subGroup !== undefined)) {
    throw new Error("host gid map specified along with GID mapping");
  }
  let uidMap: IDMap[] = [];
  let gidMap: IDMap[] = [];
  if (subUser !== undefined) uidMap = subIDMap(subUser, "/etc/subuid");
  if (subGroup !== undefined) gidMap = subIDMap(subGroup, "/etc/subgid");
  if (uidSpecs.length > 0) uidMap = [...uidMap, ...parseIDMap(uidSpecs, "uid")];
  if (gidSpecs.length > 0) gidMap = [...gidMap, ...parseIDMap(gidSpecs, "gid")];
  return {
    uidMap: uidMap.length ? uidMap : undefined,
    gidMap: gidMap.length ? gidMap : undefined,
    hostUIDMapping: hostUID,
    hostGIDMapping: hostGID,
  };
}
