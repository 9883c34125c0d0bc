/**
 * The values Go derives rather than reads: built-in default paths,
 * Go-compatible `$VAR` expansion, the rootless directory rules (runtime dir,
 * data dir, home dir), the driver option strings built from
 * `[storage.options]`, and default ID maps. `config.ts` reads the files and
 * decides which of these apply.
 *
 * The process environment arrives through a {@link ConfigEnvironment}, so
 * tests can supply their own; only `cli.ts` and `config.ts` touch `Deno.env`.
 *
 * @module
 */

import * as path from "node:path";
import type { IDMap } from "./archive/idmap.ts";
import { isNotFound, StorageError } from "./errors.ts";
import { cleanPath } from "./path.ts";

/** Graph root of a rootful store when no configuration names one. */
export const ROOTFUL_GRAPH_ROOT = "/var/lib/containers/storage";
/** Run root of a rootful store when no configuration names one. */
export const ROOTFUL_RUN_ROOT = "/run/containers/storage";
/** Administrator override first, distribution default last (which may be missing). */
export const SYSTEM_CONFIG_PATHS: readonly string[] = [
  "/etc/containers/storage.conf",
  "/usr/share/containers/storage.conf",
];
/** Go's default bounds for automatically sized user namespaces. */
export const AUTO_USERNS_MIN_SIZE = 1024;
/** Go's default bounds for automatically sized user namespaces. */
export const AUTO_USERNS_MAX_SIZE = 65536;

/**
 * Where configuration loading reads the process environment from.
 *
 * @example
 * ```ts
 * import type { ConfigEnvironment } from "./config_defaults.ts";
 * const vars: Record<string, string> = { HOME: "/home/me" };
 * const env: ConfigEnvironment = { get: (name) => vars[name], euid: 1000 };
 * console.log(env.get("HOME")); // "/home/me"
 * ```
 */
export interface ConfigEnvironment {
  /** The value of an environment variable, `undefined` when unset. */
  get(name: string): string | undefined;
  /** Effective UID of the process. */
  euid: number;
}

/**
 * Host files consulted while loading configuration. Every field defaults to
 * the real location; tests point them at temporary files.
 *
 * @example
 * ```ts
 * import type { ConfigPaths } from "./config_defaults.ts";
 * const paths: ConfigPaths = { systemConfigPaths: ["/tmp/t/etc.conf", "/tmp/t/usr.conf"] };
 * console.log(paths.systemConfigPaths?.length); // 2
 * ```
 */
export interface ConfigPaths {
  /** Search list after `$CONTAINERS_STORAGE_CONF`/`$XDG_CONFIG_HOME`: first existing file wins. */
  systemConfigPaths?: readonly string[];
  /** `/etc/subuid`, read for `remap-user`. */
  subuidPath?: string;
  /** `/etc/subgid`, read for `remap-group`. */
  subgidPath?: string;
  /** `/etc/passwd`, used for the home directory when `$HOME` is empty. */
  passwdPath?: string;
  /** `/proc/1/comm`, which decides whether `/run/user/<uid>` is considered. */
  procInitCommPath?: string;
  /** `/run/user`, parent of per-user runtime directories. */
  runUserDir?: string;
}

/**
 * The UID whose per-user storage is used: `$_CONTAINERS_ROOTLESS_UID` when
 * set (Podman re-executes itself inside a user namespace as UID 0 and passes
 * the real UID this way), else the effective UID. Zero means rootful.
 *
 * @example
 * ```ts
 * import { rootlessUid } from "./config_defaults.ts";
 * console.log(rootlessUid({ get: () => undefined, euid: 1000 })); // 1000
 * ```
 */
export function rootlessUid(env: ConfigEnvironment): number {
  const value = env.get("_CONTAINERS_ROOTLESS_UID");
  if (value === undefined || value === "") return env.euid;
  // Go ignores the strconv.Atoi error, which leaves 0.
  return /^[+-]?\d+$/.test(value) ? Number(value) : 0;
}

// Names Go's os.Expand treats as one-character shell specials.
const SHELL_SPECIAL = "*#$@!?-0123456789";

/**
 * Expands `$NAME` and `${NAME}` from `env` exactly as Go's `os.ExpandEnv`
 * does: unset variables become empty, `$` before a non-name character is kept,
 * malformed `${` forms are dropped.
 *
 * @example
 * ```ts
 * import { expandEnv } from "./config_defaults.ts";
 * const env = { get: (n: string) => (n === "HOME" ? "/h" : undefined), euid: 0 };
 * console.log(expandEnv("${HOME}/x/$NOPE/$/y", env)); // "/h/x//$/y"
 * ```
 */
export function expandEnv(text: string, env: ConfigEnvironment): string {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf("$", i);
    if (dollar < 0 || dollar + 1 >= text.length) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, dollar);
    const [name, width] = shellName(text.slice(dollar + 1));
    if (name !== "") out += env.get(name) ?? "";
    else if (width === 0) out += "$"; // "$" not followed by a name stays literal
    i = dollar + 1 + width;
  }
  return out;
}

/** Name after a `$` and how many characters it spans (`width` > 0 with no name = bad syntax, dropped). */
function shellName(rest: string): [string, number] {
  if (rest[0] === "{") {
    if (rest.length > 2 && SHELL_SPECIAL.includes(rest[1]) && rest[2] === "}") {
      return [rest[1], 3];
    }
    const close = rest.indexOf("}");
    if (close === 1) return ["", 2];
    if (close < 0) return ["", 1];
    return [rest.slice(1, close), close + 1];
  }
  if (SHELL_SPECIAL.includes(rest[0])) return [rest[0], 1];
  const match = /^[A-Za-z0-9_]*/.exec(rest)![0];
  return [match, match.length];
}

/**
 * Turns a configured root into the path the store uses: `$UID` replaced by
 * `uid`, environment variables expanded, symlinks resolved (the cleaned path
 * when resolution fails, e.g. because it does not exist yet). Relative results
 * are made absolute against the working directory, which Go leaves to the
 * store opener.
 *
 * @example
 * ```ts
 * import { expandConfigPath } from "./config_defaults.ts";
 * const env = { get: () => undefined, euid: 1000 };
 * console.log(await expandConfigPath("/nonexistent/$UID/x/../y", 1000, env)); // "/nonexistent/1000/y"
 * ```
 */
export async function expandConfigPath(
  configured: string,
  uid: number,
  env: ConfigEnvironment,
): Promise<string> {
  const expanded = expandEnv(configured.replaceAll("$UID", String(uid)), env);
  let resolved: string;
  try {
    resolved = await Deno.realPath(expanded === "" ? "." : expanded);
  } catch {
    resolved = cleanPath(expanded);
  }
  return path.isAbsolute(resolved) ? resolved : path.resolve(resolved);
}

/** Like Go's `filepath.EvalSymlinks`, but keeping the input when it cannot be resolved. */
async function resolveOrKeep(p: string): Promise<string> {
  try {
    return await Deno.realPath(p);
  } catch {
    return p;
  }
}

/**
 * The user's home directory: `$HOME`, else the passwd entry of `uid`, else "".
 *
 * @example
 * ```ts
 * import { homeDir } from "./config_defaults.ts";
 * console.log(await homeDir({ get: () => "/home/me", euid: 1000 }, 1000)); // "/home/me"
 * ```
 */
export async function homeDir(
  env: ConfigEnvironment,
  uid: number,
  paths: ConfigPaths = {},
): Promise<string> {
  const home = env.get("HOME");
  if (home) return home;
  let passwd: string;
  try {
    passwd = await Deno.readTextFile(paths.passwdPath ?? "/etc/passwd");
  } catch {
    return "";
  }
  for (const line of passwd.split("\n")) {
    const fields = line.split(":");
    if (fields.length >= 7 && fields[2] === String(uid)) return fields[5];
  }
  return "";
}

/** Whether `dir` is a real directory of the user, not readable or writable by others. */
async function isPrivateDirOf(dir: string, uid: number): Promise<boolean> {
  try {
    const st = await Deno.lstat(dir);
    const mode = st.mode ?? 0;
    return st.uid === uid && (mode & 0o700) === 0o700 && (mode & 0o066) === 0;
  } catch {
    return false;
  }
}

/**
 * The per-user runtime directory, following Go's order: `$XDG_RUNTIME_DIR`;
 * `/run/user/<uid>` when private to the user (only considered when
 * `/proc/1/comm` cannot be read or reads exactly `systemd` — Go compares the
 * raw bytes, newline included, so on a normal systemd host this step is
 * skipped); `$TMPDIR/containers-user-<uid>` (created if missing, used if
 * private); `$HOME/rundir`.
 *
 * @example
 * ```ts
 * import { rootlessRuntimeDir } from "./config_defaults.ts";
 * const env = { get: (n: string) => (n === "XDG_RUNTIME_DIR" ? "/run/user/1000" : undefined), euid: 1000 };
 * console.log(await rootlessRuntimeDir(env, 1000)); // "/run/user/1000"
 * ```
 */
export async function rootlessRuntimeDir(
  env: ConfigEnvironment,
  uid: number,
  paths: ConfigPaths = {},
): Promise<string> {
  const xdg = env.get("XDG_RUNTIME_DIR");
  if (xdg) return xdg;

  let initComm: string | undefined;
  try {
    initComm = await Deno.readTextFile(paths.procInitCommPath ?? "/proc/1/comm");
  } catch {
    initComm = undefined;
  }
  if (initComm === undefined || initComm === "systemd") {
    const runUser = path.join(paths.runUserDir ?? "/run/user", String(uid));
    if (await isPrivateDirOf(runUser, env.euid)) return runUser;
  }

  const tmpPerUser = path.join(env.get("TMPDIR") || "/tmp", `containers-user-${uid}`);
  let exists = true;
  try {
    await Deno.lstat(tmpPerUser);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    exists = false;
  }
  if (!exists) {
    try {
      await Deno.mkdir(tmpPerUser, { mode: 0o700 });
      return tmpPerUser;
    } catch {
      // Go logs the failure and moves on to $HOME/rundir.
    }
  } else if (await isPrivateDirOf(tmpPerUser, env.euid)) {
    return tmpPerUser;
  }

  const home = await homeDir(env, uid, paths);
  if (home === "") {
    throw new StorageError("config", undefined, {
      message: "neither XDG_RUNTIME_DIR nor temp dir nor HOME was set non-empty",
    });
  }
  return path.join(await resolveOrKeep(home), "rundir");
}

/**
 * The per-user data directory: `$XDG_DATA_HOME`, else `$HOME/.local/share`
 * (home symlinks resolved, as Go does because runc dislikes symlinked roots).
 *
 * @example
 * ```ts
 * import { rootlessDataDir } from "./config_defaults.ts";
 * const env = { get: (n: string) => (n === "XDG_DATA_HOME" ? "/d" : undefined), euid: 1000 };
 * console.log(await rootlessDataDir(env, 1000)); // "/d"
 * ```
 */
export async function rootlessDataDir(
  env: ConfigEnvironment,
  uid: number,
  paths: ConfigPaths = {},
): Promise<string> {
  const xdg = env.get("XDG_DATA_HOME");
  if (xdg) return xdg;
  const home = await homeDir(env, uid, paths);
  if (home === "") {
    throw new StorageError("config", undefined, {
      message: "neither XDG_DATA_HOME nor HOME was set non-empty",
    });
  }
  return path.join(await resolveOrKeep(home), ".local", "share");
}

/**
 * The per-user `storage.conf`: `$CONTAINERS_STORAGE_CONF`, else
 * `$XDG_CONFIG_HOME/containers/storage.conf`, else
 * `$HOME/.config/containers/storage.conf`.
 *
 * @example
 * ```ts
 * import { userConfigFile } from "./config_defaults.ts";
 * const env = { get: (n: string) => (n === "HOME" ? "/home/me" : undefined), euid: 1000 };
 * console.log(await userConfigFile(env, 1000)); // "/home/me/.config/containers/storage.conf"
 * ```
 */
export async function userConfigFile(
  env: ConfigEnvironment,
  uid: number,
  paths: ConfigPaths = {},
): Promise<string> {
  const explicit = env.get("CONTAINERS_STORAGE_CONF");
  if (explicit !== undefined) return explicit;
  const configHome = env.get("XDG_CONFIG_HOME");
  if (configHome) return path.join(configHome, "containers", "storage.conf");
  const home = await homeDir(env, uid, paths);
  if (home === "") {
    throw new StorageError("config", undefined, { message: "cannot determine user's homedir" });
  }
  return path.join(home, ".config", "containers", "storage.conf");
}

/**
 * Whether `file` exists (following symlinks). Only "not found" counts as
 * missing; other failures (permissions) are raised.
 *
 * @example
 * ```ts
 * import { fileExists } from "./config_defaults.ts";
 * console.log(await fileExists("/nonexistent/storage.conf")); // false
 * ```
 */
export async function fileExists(file: string): Promise<boolean> {
  try {
    await Deno.stat(file);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

// ---- the shape of [storage.options], and what Go derives from it ----

/** `[storage.options.<driver>]` tables, string values only. */
export type DriverTable = Record<string, string | undefined>;

/** `[storage.options]` as written in the file (keys spelled as in TOML). */
export interface StorageConfOptions {
  additionalimagestores?: string[];
  additionallayerstores?: string[];
  size?: string;
  "remap-uids"?: string;
  "remap-gids"?: string;
  "remap-user"?: string;
  "remap-group"?: string;
  "root-auto-userns-user"?: string;
  "auto-userns-min-size"?: number;
  "auto-userns-max-size"?: number;
  ignore_chown_errors?: string;
  skip_mount_home?: string;
  mount_program?: string;
  mountopt?: string;
  /** An integer file mode (Go `os.FileMode`), unlike the string in the overlay table. */
  force_mask?: number;
  pull_options?: Record<string, string>;
  "disable-volatile"?: boolean;
  aufs?: DriverTable;
  btrfs?: DriverTable;
  overlay?: DriverTable;
  vfs?: DriverTable;
  zfs?: DriverTable;
  thinpool?: DriverTable;
}

/**
 * The driver option strings Go builds from `[storage.options]`: first the
 * generic keys prefixed with the driver name as written (`rawDriver`, which
 * may be "" or "overlay2"), then the `[storage.options.<driver>]` keys of the
 * normalised `driver`, each falling back to its generic key. A generic key
 * can therefore appear twice; Go does the same and the last one wins.
 *
 * @example
 * ```ts
 * import { confDriverOptions } from "./config_defaults.ts";
 * const o = { mountopt: "nodev", additionalimagestores: ["/ro"] };
 * console.log(confDriverOptions("overlay", "overlay", o));
 * // ["overlay.imagestore=/ro", "overlay.mountopt=nodev", "overlay.mountopt=nodev"]
 * ```
 */
export function confDriverOptions(
  rawDriver: string,
  driver: string,
  o: StorageConfOptions,
): string[] {
  return [...genericDriverOptions(rawDriver, o), ...driverTableOptions(driver, o)];
}

/** Options from the generic `[storage.options]` keys. */
function genericDriverOptions(driver: string, o: StorageConfOptions): string[] {
  const out: string[] = [];
  for (const store of o.additionalimagestores ?? []) out.push(`${driver}.imagestore=${store}`);
  for (const store of o.additionallayerstores ?? []) {
    out.push(`${driver}.additionallayerstore=${store}`);
  }
  const keys = ["size", "mount_program", "skip_mount_home", "ignore_chown_errors"] as const;
  for (const key of keys) {
    if (o[key]) out.push(`${driver}.${key}=${o[key]}`);
  }
  if (o.force_mask) out.push(`${driver}.force_mask=${o.force_mask.toString(8)}`);
  if (o.mountopt) out.push(`${driver}.mountopt=${o.mountopt}`);
  return out;
}

/** Options from `[storage.options.<driver>]`, falling back to generic keys per driver. */
function driverTableOptions(driver: string, o: StorageConfOptions): string[] {
  const out: string[] = [];
  const add = (key: string, value: string | undefined): void => {
    if (value) out.push(`${driver}.${key}=${value}`);
  };
  switch (driver) {
    case "aufs":
      if (o.aufs?.mountopt) return [`${driver}.mountopt=${o.aufs.mountopt}`];
      add("mountopt", o.mountopt);
      break;
    case "btrfs":
      // min_space wins outright: Go returns before looking at size.
      if (o.btrfs?.min_space) return [`${driver}.min_space=${o.btrfs.min_space}`];
      add("size", o.btrfs?.size || o.size);
      break;
    case "overlay":
    case "overlay2": {
      const t = o.overlay ?? {};
      add("ignore_chown_errors", t.ignore_chown_errors || o.ignore_chown_errors);
      add("mount_program", t.mount_program || o.mount_program);
      add("mountopt", t.mountopt || o.mountopt);
      add("size", t.size || o.size);
      add("inodes", t.inodes);
      add("skip_mount_home", t.skip_mount_home || o.skip_mount_home);
      // The generic mask is an os.FileMode printed with %s: "-rwxr-xr-x".
      add("force_mask", t.force_mask || (o.force_mask ? goFileModeString(o.force_mask) : ""));
      break;
    }
    case "vfs":
      add("ignore_chown_errors", o.vfs?.ignore_chown_errors || o.ignore_chown_errors);
      break;
    case "zfs":
      add("fsname", o.zfs?.fsname);
      add("mountopt", o.zfs?.mountopt || o.mountopt);
      add("size", o.zfs?.size || o.size);
      break;
  }
  return out;
}

/** Go's `os.FileMode.String()`. */
function goFileModeString(mode: number): string {
  const typeLetters = "dalTLDpSugct?";
  let out = "";
  for (let i = 0; i < typeLetters.length; i++) {
    if ((mode >>> (31 - i)) & 1) out += typeLetters[i];
  }
  if (out === "") out = "-";
  const rwx = "rwxrwxrwx";
  for (let i = 0; i < 9; i++) out += (mode >>> (8 - i)) & 1 ? rwx[i] : "-";
  return out;
}

/**
 * The default ID maps a file asks for: `remap-user`/`remap-group` ranges
 * from the subordinate ID files (either name standing in for a missing
 * other), replaced by `remap-uids`/`remap-gids` where those are set.
 *
 * @example
 * ```ts
 * import { defaultIdMaps } from "./config_defaults.ts";
 * const maps = await defaultIdMaps({ "remap-uids": "0:100000:65536" });
 * console.log(maps.uidMap); // [{ container_id: 0, host_id: 100000, size: 65536 }]
 * ```
 */
export async function defaultIdMaps(
  o: StorageConfOptions,
  paths: ConfigPaths = {},
): Promise<{ uidMap: IDMap[]; gidMap: IDMap[] }> {
  let uidMap: IDMap[] = [];
  let gidMap: IDMap[] = [];
  const user = o["remap-user"] || o["remap-group"] || "";
  const group = o["remap-group"] || o["remap-user"] || "";
  if (user !== "") {
    const subuid = paths.subuidPath ?? "/etc/subuid";
    const subgid = paths.subgidPath ?? "/etc/subgid";
    const uidRanges = await readSubordinateIds(subuid, user);
    if (uidRanges.length === 0) {
      throw configError(`no subuid ranges found for user ${JSON.stringify(user)} in ${subuid}`);
    }
    const gidRanges = await readSubordinateIds(subgid, group);
    if (gidRanges.length === 0) {
      throw configError(`no subgid ranges found for group ${JSON.stringify(group)} in ${subgid}`);
    }
    uidMap = stackRanges(uidRanges);
    gidMap = stackRanges(gidRanges);
  }
  const uids = parseRemap(o["remap-uids"] ?? "", "remap-uids");
  if (uids.length > 0) uidMap = uids;
  const gids = parseRemap(o["remap-gids"] ?? "", "remap-gids");
  if (gids.length > 0) gidMap = gids;
  return { uidMap, gidMap };
}

/**
 * Parses `remap-uids`/`remap-gids`: `container:host:size` triples joined by
 * colons (`0:100000:1000:1000:300000:5`), each number a uint32.
 *
 * @example
 * ```ts
 * import { parseRemap } from "./config_defaults.ts";
 * console.log(parseRemap("0:100000:65536", "remap-uids"));
 * // [{ container_id: 0, host_id: 100000, size: 65536 }]
 * ```
 */
export function parseRemap(spec: string, setting: string): IDMap[] {
  if (spec === "") return [];
  const malformed = () =>
    configError(
      `initializing ID mappings: ${setting} setting is malformed expected ["uint32:uint32:uint32"]: [${
        JSON.stringify(spec)
      }]`,
    );
  const parts = spec.split(":");
  if (parts.length % 3 !== 0) throw malformed();
  const numbers = parts.map((p) => (/^\d+$/.test(p) && Number(p) <= 0xffffffff ? Number(p) : NaN));
  if (numbers.some(Number.isNaN)) throw malformed();
  const maps: IDMap[] = [];
  for (let i = 0; i < numbers.length; i += 3) {
    maps.push({ container_id: numbers[i], host_id: numbers[i + 1], size: numbers[i + 2] });
  }
  return maps;
}

/** `name:start:count` lines of `/etc/subuid`-style files for `name` (or `ALL`). */
async function readSubordinateIds(file: string, name: string): Promise<[number, number][]> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch {
    return []; // Go reports a missing file as "no ranges found".
  }
  const ranges: [number, number][] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const fields = line.split(":");
    if (fields.length !== 3) {
      throw configError(`cannot parse subuid/gid information: Format not correct for ${file} file`);
    }
    if (fields[0] !== name && name !== "ALL") continue;
    const start = Number(fields[1]);
    const count = Number(fields[2]);
    if (!Number.isInteger(start) || !Number.isInteger(count)) {
      throw configError(`cannot parse subuid/gid information: Format not correct for ${file} file`);
    }
    ranges.push([start, count]);
  }
  return ranges;
}

/** Lays sorted host ranges end to end from container ID 0. */
function stackRanges(ranges: [number, number][]): IDMap[] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  let next = 0;
  return sorted.map(([start, count]) => {
    const map = { container_id: next, host_id: start, size: count };
    next += count;
    return map;
  });
}

function configError(message: string): StorageError {
  return new StorageError("config", undefined, { message });
}
