/**
 * Store configuration: reads `storage.conf` and the environment the way Go
 * containers/storage does (`spec/layout.md` §5), so cstor opens the same
 * graph root, run root and driver as Podman would in the same situation.
 *
 * Go only warns about most problems (unknown keys, a missing driver); those
 * end up in {@link StoreConfig.warnings}. It fails on what would make it use
 * the wrong store: malformed TOML, values of the wrong type, bad ID maps, a
 * `$CONTAINERS_STORAGE_CONF` that does not exist.
 *
 * @module
 */

import { join } from "node:path";
import { parse, TomlError } from "smol-toml";
import type { IDMap } from "./archive/idmap.ts";
import { StorageError } from "./errors.ts";
import {
  AUTO_USERNS_MAX_SIZE,
  AUTO_USERNS_MIN_SIZE,
  confDriverOptions,
  type ConfigEnvironment,
  type ConfigPaths,
  defaultIdMaps,
  expandConfigPath,
  fileExists,
  ROOTFUL_GRAPH_ROOT,
  ROOTFUL_RUN_ROOT,
  rootlessDataDir,
  rootlessRuntimeDir,
  rootlessUid,
  type StorageConfOptions,
  SYSTEM_CONFIG_PATHS,
  userConfigFile,
} from "./config_defaults.ts";

export type {
  ConfigEnvironment,
  ConfigPaths,
  DriverTable,
  StorageConfOptions,
} from "./config_defaults.ts";
export { parseRemap } from "./config_defaults.ts";

/**
 * Everything needed to open a store, resolved from configuration files and
 * the environment.
 */
export interface StoreConfig {
  /** Driver to use; "" = auto-select. `overlay2` is already normalised to `overlay`. */
  driver: string;
  /** Drivers to try, in order, when `driver` is "". */
  driverPriority: string[];
  /** Absolute graph root: `$UID` replaced, environment expanded, symlinks resolved. */
  graphRoot: string;
  /** Absolute run root, resolved like {@link graphRoot}. */
  runRoot: string;
  /** Keep containers and their layers only in the run root. */
  transientStore: boolean;
  /** `"<driver>.<key>=<value>"` strings, in the order Go builds them. */
  driverOptions: string[];
  /** Default UID map for new layers and containers (`remap-uids` / `remap-user`). */
  uidMap: IDMap[];
  /** Default GID map for new layers and containers (`remap-gids` / `remap-group`). */
  gidMap: IDMap[];
  /** Refuse volatile mounts. */
  disableVolatile: boolean;
  /** Expanded `rootless_storage_path` ("" when not configured). */
  rootlessStoragePath: string;
  /** User whose subordinate IDs automatic user namespaces are carved from. */
  rootAutoUsernsUser: string;
  /** Smallest automatically sized user namespace. */
  autoUsernsMinSize: number;
  /** Largest automatically sized user namespace. */
  autoUsernsMaxSize: number;
  /** `pull_options` table, passed through untouched. */
  pullOptions: Record<string, string>;
  /** True when per-user (rootless) defaults applied. */
  rootless: boolean;
  /** The file whose settings were used (undefined when none was read). */
  configFile: string | undefined;
  /** What Go would log as warnings while loading. */
  warnings: string[];
}

/** A parsed, type-checked `storage.conf`. Absent keys are absent. */
export interface StorageConf {
  /** The file it came from. */
  path: string;
  storage: {
    driver?: string;
    driver_priority?: string[];
    runroot?: string;
    graphroot?: string;
    rootless_storage_path?: string;
    transient_store?: boolean;
    options?: StorageConfOptions;
  };
  /** Unknown keys, as Go reports them. */
  warnings: string[];
}

/**
 * Parses and type-checks the text of a `storage.conf`. Keys match
 * case-insensitively, as Go's TOML decoder allows; unknown keys become a
 * warning. Malformed TOML or a value of the wrong type raises a
 * {@link StorageError} (`config`) naming the file and line.
 *
 * @example
 * ```ts
 * import { parseStorageConf } from "./config.ts";
 * const conf = parseStorageConf('[storage]\ndriver = "vfs"\n', "/etc/containers/storage.conf");
 * console.log(conf.storage.driver); // "vfs"
 * ```
 */
export function parseStorageConf(text: string, path: string): StorageConf {
  let doc: Record<string, unknown>;
  try {
    doc = parse(text, { integersAsBigInt: true }) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof TomlError) {
      const what = err.message.split("\n")[0].replace(/^Invalid TOML document: /, "");
      throw configError(`${path}: toml: line ${err.line}: ${what}`, err);
    }
    throw err;
  }
  const unknown: string[] = [];
  let checked: Record<string, unknown>;
  try {
    checked = checkTable(doc, ROOT_SCHEMA, [], unknown);
  } catch (err) {
    if (err instanceof TypeCheckFailure) {
      const line = tomlLineOf(text, err.keyPath);
      const key = err.keyPath.join(".");
      throw configError(
        `${path}: toml: line ${line} (last key ${JSON.stringify(key)}): ${err.problem}`,
      );
    }
    throw err;
  }
  const warnings = unknown.length === 0 ? [] : [
    `Failed to decode the keys [${unknown.map((k) => JSON.stringify(k)).join(" ")}] from ${
      JSON.stringify(path)
    }`,
  ];
  return { path, storage: (checked.storage ?? {}) as StorageConf["storage"], warnings };
}

// ---- type checking against the keys Go's TomlConfig struct declares ----

type Leaf = "string" | "bool" | "uint32" | "strings" | "strmap";
interface Schema {
  [key: string]: Leaf | Schema;
}

const stringKeys = (...keys: string[]): Schema =>
  Object.fromEntries(keys.map((k) => [k, "string" as const]));

const OPTIONS_SCHEMA: Schema = {
  ...stringKeys(
    "size",
    "remap-uids",
    "remap-gids",
    "remap-user",
    "remap-group",
    "root-auto-userns-user",
    "ignore_chown_errors",
    "skip_mount_home",
    "mount_program",
    "mountopt",
  ),
  additionalimagestores: "strings",
  additionallayerstores: "strings",
  "auto-userns-min-size": "uint32",
  "auto-userns-max-size": "uint32",
  force_mask: "uint32",
  pull_options: "strmap",
  "disable-volatile": "bool",
  aufs: stringKeys("mountopt"),
  btrfs: stringKeys("min_space", "size"),
  overlay: stringKeys(
    "ignore_chown_errors",
    "mountopt",
    "mount_program",
    "size",
    "inodes",
    "skip_mount_home",
    "force_mask",
  ),
  vfs: stringKeys("ignore_chown_errors"),
  zfs: stringKeys("mountopt", "fsname", "size"),
  // devicemapper settings: still declared by Go, unused by cstor.
  thinpool: stringKeys(
    "autoextend_percent",
    "autoextend_threshold",
    "basesize",
    "blocksize",
    "directlvm_device",
    "directlvm_device_force",
    "fs",
    "log_level",
    "min_free_space",
    "mkfsarg",
    "mountopt",
    "size",
    "use_deferred_deletion",
    "use_deferred_removal",
    "xfs_nospace_max_retries",
  ),
};

const ROOT_SCHEMA: Schema = {
  storage: {
    ...stringKeys("driver", "runroot", "graphroot", "rootless_storage_path"),
    driver_priority: "strings",
    transient_store: "bool",
    options: OPTIONS_SCHEMA,
  },
};

/** A value of the wrong type, with the key path where it sits. */
class TypeCheckFailure extends Error {
  constructor(readonly keyPath: string[], readonly problem: string) {
    super(problem);
  }
}

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** Go's name for the type of a decoded TOML value. */
function tomlTypeName(v: unknown): string {
  if (typeof v === "string") return "string";
  if (typeof v === "boolean") return "bool";
  if (typeof v === "bigint") return "int64";
  if (typeof v === "number") return "float64";
  if (Array.isArray(v)) return "array";
  if (isTable(v)) return "table";
  return "datetime";
}

function incompatible(v: unknown, destination: string): string {
  return `incompatible types: TOML value has type ${
    tomlTypeName(v)
  }; destination has type ${destination}`;
}

/**
 * Copies the known keys of `table` under their schema spelling, checking
 * types; unknown keys (and everything below them) go to `unknown`.
 */
function checkTable(
  table: Record<string, unknown>,
  schema: Schema,
  keyPath: string[],
  unknown: string[],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(table)) {
    const here = [...keyPath, key];
    // Go's decoder falls back to a case-insensitive match.
    const field = Object.hasOwn(schema, key)
      ? key
      : Object.keys(schema).find((k) => k.toLowerCase() === key.toLowerCase());
    if (field === undefined) {
      listKeys(value, here, unknown);
      continue;
    }
    const type = schema[field];
    if (typeof type === "object") {
      if (!isTable(value)) throw new TypeCheckFailure(here, incompatible(value, "struct"));
      // `[STORAGE]` and `[storage]` are different TOML tables but the same
      // Go struct, so their contents merge.
      const seen = out[field] as Record<string, unknown> | undefined;
      const checked = checkTable(value, type, here, unknown);
      out[field] = seen === undefined ? checked : mergeTables(seen, checked);
    } else {
      out[field] = checkLeaf(value, type, here);
    }
  }
  return out;
}

function mergeTables(
  into: Record<string, unknown>,
  from: Record<string, unknown>,
): Record<string, unknown> {
  for (const [key, value] of Object.entries(from)) {
    const existing = into[key];
    into[key] = isTable(existing) && isTable(value) ? mergeTables(existing, value) : value;
  }
  return into;
}

function listKeys(value: unknown, keyPath: string[], into: string[]): void {
  into.push(keyPath.join("."));
  if (isTable(value)) {
    for (const [key, child] of Object.entries(value)) listKeys(child, [...keyPath, key], into);
  }
}

function checkLeaf(value: unknown, type: Leaf, keyPath: string[]): unknown {
  switch (type) {
    case "string":
      if (typeof value !== "string") {
        throw new TypeCheckFailure(keyPath, incompatible(value, "string"));
      }
      return value;
    case "bool":
      if (typeof value !== "boolean") {
        throw new TypeCheckFailure(keyPath, incompatible(value, "boolean"));
      }
      return value;
    case "uint32":
      if (typeof value !== "bigint") {
        throw new TypeCheckFailure(keyPath, incompatible(value, "integer"));
      }
      if (value < 0n || value > 0xffffffffn) {
        throw new TypeCheckFailure(keyPath, `${value} is out of range for uint32`);
      }
      return Number(value);
    case "strings":
      if (!Array.isArray(value)) throw new TypeCheckFailure(keyPath, incompatible(value, "slice"));
      for (const item of value) {
        if (typeof item !== "string") {
          throw new TypeCheckFailure(keyPath, incompatible(item, "string"));
        }
      }
      return [...value];
    case "strmap": {
      if (!isTable(value)) throw new TypeCheckFailure(keyPath, incompatible(value, "map"));
      const out: Record<string, string> = {};
      for (const [key, item] of Object.entries(value)) {
        if (typeof item !== "string") {
          throw new TypeCheckFailure([...keyPath, key], incompatible(item, "string"));
        }
        out[key] = item;
      }
      return out;
    }
  }
}

/** Splits a TOML dotted key (`a."b.c".d`) into its parts. */
function splitTomlKey(key: string): string[] {
  return [...key.matchAll(/"([^"]*)"|'([^']*)'|([^.\s"']+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);
}

const KEY_LINE =
  /^((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=/;

/**
 * 1-based line where the value at `keyPath` is set (or the inline table or
 * table header holding it); 1 when it cannot be found. Only used to point
 * at type errors, which the TOML parser itself does not report.
 */
function tomlLineOf(text: string, keyPath: string[]): number {
  const want = keyPath.map((k) => k.toLowerCase());
  const covers = (parts: string[]) =>
    parts.length <= want.length && parts.every((p, i) => p.toLowerCase() === want[i]);
  let table: string[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line.startsWith("[")) {
      table = splitTomlKey(line.replace(/^\[\[?/, "").replace(/\]\]?.*$/, ""));
      if (table.length === want.length && covers(table)) return i + 1;
      continue;
    }
    const m = KEY_LINE.exec(line);
    if (m && covers([...table, ...splitTomlKey(m[1])])) return i + 1;
  }
  return 1;
}

function configError(message: string, cause?: unknown): StorageError {
  return new StorageError("config", undefined, { message, cause });
}

/** Reads and parses one configuration file. */
async function readStorageConf(path: string): Promise<StorageConf> {
  const bytes = await Deno.readFile(path);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (err) {
    throw configError(`${path}: toml: invalid UTF-8`, err);
  }
  return parseStorageConf(text, path);
}

/** What Go's `ReloadConfigurationFile` makes of one file (roots not yet expanded). */
interface FileSettings {
  driver: string;
  driverPriority: string[];
  runRoot: string;
  graphRoot: string;
  rootlessStoragePath: string;
  transientStore: boolean;
  driverOptions: string[];
  uidMap: IDMap[];
  gidMap: IDMap[];
  rootAutoUsernsUser: string;
  autoUsernsMinSize: number;
  autoUsernsMaxSize: number;
  pullOptions: Record<string, string>;
  disableVolatile: boolean;
  warnings: string[];
}

const OVERLAY2_WARNING = "Switching default driver from overlay2 to the equivalent overlay driver";

/** Go's StoreOptions before any file is read. */
function emptySettings(): FileSettings {
  return {
    driver: "",
    driverPriority: [],
    runRoot: "",
    graphRoot: "",
    rootlessStoragePath: "",
    transientStore: false,
    driverOptions: [],
    uidMap: [],
    gidMap: [],
    rootAutoUsernsUser: "",
    autoUsernsMinSize: 0,
    autoUsernsMaxSize: 0,
    pullOptions: {},
    disableVolatile: false,
    warnings: [],
  };
}

/** Applies a parsed file and `STORAGE_DRIVER`/`STORAGE_OPTS` the way Go does. */
async function settingsFromConf(
  conf: StorageConf,
  env: ConfigEnvironment,
  paths: ConfigPaths,
): Promise<FileSettings> {
  const s = emptySettings();
  s.warnings.push(...conf.warnings);
  const st = conf.storage;
  const opts = st.options ?? {};
  // The raw name (before overlay2 → overlay) prefixes the generic options.
  const rawDriver = env.get("STORAGE_DRIVER") || st.driver || "";
  s.driver = rawDriver === "overlay2" ? "overlay" : rawDriver;
  if (rawDriver === "overlay2") s.warnings.push(OVERLAY2_WARNING);
  s.driverPriority = st.driver_priority ?? [];
  if (s.driver === "" && s.driverPriority.length === 0) {
    s.warnings.push(
      `The storage 'driver' option must be set in ${conf.path} to guarantee proper operation`,
    );
  }
  s.runRoot = st.runroot ?? "";
  s.graphRoot = st.graphroot ?? "";
  s.rootlessStoragePath = st.rootless_storage_path ?? "";
  s.transientStore = st.transient_store ?? false;

  ({ uidMap: s.uidMap, gidMap: s.gidMap } = await defaultIdMaps(opts, paths));
  s.rootAutoUsernsUser = opts["root-auto-userns-user"] ?? "";
  s.autoUsernsMinSize = opts["auto-userns-min-size"] ?? 0;
  s.autoUsernsMaxSize = opts["auto-userns-max-size"] ?? 0;
  s.pullOptions = opts.pull_options ?? {};
  s.disableVolatile = opts["disable-volatile"] ?? false;
  s.driverOptions = confDriverOptions(rawDriver, s.driver, opts);

  const envOpts = env.get("STORAGE_OPTS");
  if (envOpts !== undefined) s.driverOptions = envOpts.split(",");
  if (s.driverOptions.length === 1 && s.driverOptions[0] === "") s.driverOptions = [];
  return s;
}

/** The system file (search order steps 1–4) and what it says, roots defaulted. */
interface SystemSettings {
  settings: FileSettings;
  /** The file read, undefined when none exists. */
  file: string | undefined;
}

async function loadSystemSettings(
  env: ConfigEnvironment,
  paths: ConfigPaths,
): Promise<SystemSettings> {
  const explicit = env.get("CONTAINERS_STORAGE_CONF");
  let candidates: string[];
  if (explicit !== undefined) {
    // Only that file; Go fails when it is missing rather than looking elsewhere.
    if (!(await fileExists(explicit))) {
      throw configError(`stat ${explicit}: no such file or directory`);
    }
    candidates = [explicit];
  } else {
    candidates = [...(paths.systemConfigPaths ?? SYSTEM_CONFIG_PATHS)];
    const configHome = env.get("XDG_CONFIG_HOME");
    if (configHome !== undefined) {
      candidates.unshift(join(configHome, "containers", "storage.conf"));
    }
  }
  let file: string | undefined;
  for (const candidate of candidates) {
    if (await fileExists(candidate)) {
      file = candidate;
      break;
    }
  }
  // With no file at all Go keeps its built-in defaults and never consults
  // STORAGE_DRIVER / STORAGE_OPTS (they are applied while reading a file).
  const settings = file === undefined
    ? emptySettings()
    : await settingsFromConf(await readStorageConf(file), env, paths);
  return { settings, file };
}

/** Per-user defaults derived from the system settings (Go's getRootlessStorageOpts). */
async function rootlessSettings(
  system: FileSettings,
  env: ConfigEnvironment,
  uid: number,
  paths: ConfigPaths,
): Promise<FileSettings> {
  const s = emptySettings();
  const runtimeDir = await rootlessRuntimeDir(env, uid, paths);
  s.runRoot = join(runtimeDir, "containers");
  try {
    await Deno.mkdir(s.runRoot, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw configError(`unable to make rootless runtime: ${(err as Error).message}`, err);
  }
  const dataDir = await rootlessDataDir(env, uid, paths);
  s.graphRoot = system.rootlessStoragePath
    ? await expandConfigPath(system.rootlessStoragePath, uid, env)
    : join(dataDir, "containers", "storage");
  s.pullOptions = system.pullOptions;

  if (["btrfs", "overlay", "overlay2", "vfs"].includes(system.driver)) s.driver = system.driver;
  const envDriver = env.get("STORAGE_DRIVER");
  if (envDriver) s.driver = envDriver;
  if (s.driver === "overlay2") {
    s.warnings.push(OVERLAY2_WARNING);
    s.driver = "overlay";
  }
  if (s.driver === "overlay") {
    // Only this one system option survives into per-user defaults.
    const keep = system.driverOptions.find((o) => o.includes("ignore_chown_errors"));
    if (keep !== undefined) s.driverOptions.push(keep);
  }
  if (s.driver === "") s.driver = "vfs";
  const envOpts = env.get("STORAGE_OPTS");
  if (envOpts) s.driverOptions.push(...envOpts.split(","));
  return s;
}

/**
 * Resolves the store configuration as Go's `DefaultStoreOptionsAutoDetectUID`
 * does, including rootless defaults (`spec/layout.md` §5.1) and the
 * `STORAGE_DRIVER`/`STORAGE_OPTS` overrides (§5.3). In rootless mode this may
 * create the per-user runtime directory, as Go does.
 *
 * @example
 * ```ts
 * import { loadStoreConfig, systemEnvironment } from "./config.ts";
 * const config = await loadStoreConfig(systemEnvironment());
 * console.log(config.graphRoot, config.runRoot, config.driver);
 * ```
 */
export async function loadStoreConfig(
  env: ConfigEnvironment = systemEnvironment(),
  paths: ConfigPaths = {},
): Promise<StoreConfig> {
  const uid = rootlessUid(env);
  const rootless = uid !== 0;
  const system = await loadSystemSettings(env, paths);
  const warnings = [...system.settings.warnings];

  let chosen: FileSettings;
  let configFile: string | undefined;
  if (rootless) {
    const base = await rootlessSettings(system.settings, env, uid, paths);
    warnings.push(...base.warnings);
    const userFile = await userConfigFile(env, uid, paths);
    if (await fileExists(userFile)) {
      chosen = await settingsFromConf(await readStorageConf(userFile), env, paths);
      warnings.push(...chosen.warnings);
      // A per-user file without roots must not fall back to root-owned paths.
      if (chosen.runRoot === "") chosen.runRoot = base.runRoot;
      if (chosen.graphRoot === "") chosen.graphRoot = chosen.rootlessStoragePath || base.graphRoot;
      configFile = userFile;
    } else {
      chosen = base;
      configFile = system.file;
    }
  } else {
    chosen = system.settings;
    configFile = system.file;
    if (configFile === undefined) {
      chosen.runRoot = ROOTFUL_RUN_ROOT;
      chosen.graphRoot = ROOTFUL_GRAPH_ROOT;
    } else {
      fillRootfulRoots(chosen);
    }
  }

  const settings = await finish(chosen, uid, env);
  return { ...settings, rootless, configFile, warnings: [...new Set(warnings)] };
}

/**
 * A rootful file that leaves out a root: Go's store opener takes the missing
 * one from the built-in defaults, but refuses when both are missing, unless
 * the file set nothing at all (then it falls back to the defaults entirely).
 */
function fillRootfulRoots(s: FileSettings): void {
  if (s.runRoot === "" && s.graphRoot === "") {
    if (s.driver !== "" || s.driverOptions.length > 0) {
      throw configError(
        "no storage runroot or graphroot specified: missing necessary StoreOptions",
      );
    }
  }
  if (s.runRoot === "") s.runRoot = ROOTFUL_RUN_ROOT;
  if (s.graphRoot === "") s.graphRoot = ROOTFUL_GRAPH_ROOT;
}

/** Expands the paths and fills Go's store-level defaults. */
async function finish(
  s: FileSettings,
  uid: number,
  env: ConfigEnvironment,
): Promise<Omit<StoreConfig, "rootless" | "configFile" | "warnings">> {
  return {
    driver: s.driver,
    driverPriority: s.driverPriority,
    graphRoot: await expandConfigPath(s.graphRoot, uid, env),
    runRoot: await expandConfigPath(s.runRoot, uid, env),
    transientStore: s.transientStore,
    driverOptions: s.driverOptions,
    uidMap: s.uidMap,
    gidMap: s.gidMap,
    disableVolatile: s.disableVolatile,
    rootlessStoragePath: s.rootlessStoragePath
      ? await expandConfigPath(s.rootlessStoragePath, uid, env)
      : "",
    rootAutoUsernsUser: s.rootAutoUsernsUser,
    autoUsernsMinSize: s.autoUsernsMinSize || AUTO_USERNS_MIN_SIZE,
    autoUsernsMaxSize: s.autoUsernsMaxSize || AUTO_USERNS_MAX_SIZE,
    pullOptions: s.pullOptions,
  };
}

/**
 * The system configuration without per-user adjustments (Go's
 * `types.Options()`): what the CLI falls back to for a graph or run root the
 * flags left out (`spec/cli.md` §1.2). Empty roots become the rootful
 * defaults.
 *
 * @example
 * ```ts
 * import { systemDefaults, systemEnvironment } from "./config.ts";
 * const defaults = await systemDefaults(systemEnvironment());
 * console.log(defaults.graphRoot); // e.g. "/var/lib/containers/storage"
 * ```
 */
export async function systemDefaults(
  env: ConfigEnvironment = systemEnvironment(),
  paths: ConfigPaths = {},
): Promise<StoreConfig> {
  const uid = rootlessUid(env);
  const system = await loadSystemSettings(env, paths);
  const s = system.settings;
  if (s.runRoot === "") s.runRoot = ROOTFUL_RUN_ROOT;
  if (s.graphRoot === "") s.graphRoot = ROOTFUL_GRAPH_ROOT;
  const settings = await finish(s, uid, env);
  return { ...settings, rootless: false, configFile: system.file, warnings: [...s.warnings] };
}

/**
 * The real process environment. Variables the process may not read (no
 * `--allow-env` for them) count as unset; permissions are queried, never
 * prompted for. The effective UID comes from `/proc/self/status`, falling
 * back to `Deno.uid()` when `--allow-sys` permits it, else 0.
 *
 * @example
 * ```ts
 * import { systemEnvironment } from "./config.ts";
 * const env = systemEnvironment();
 * console.log(env.euid, env.get("HOME"));
 * ```
 */
export function systemEnvironment(): ConfigEnvironment {
  const allowed = new Map<string, boolean>();
  const mayRead = (name: string): boolean => {
    let ok = allowed.get(name);
    if (ok === undefined) {
      ok = Deno.permissions.querySync({ name: "env", variable: name }).state === "granted";
      allowed.set(name, ok);
    }
    return ok;
  };
  return {
    get: (name) => (mayRead(name) ? Deno.env.get(name) : undefined),
    euid: effectiveUid(),
  };
}

function effectiveUid(): number {
  const status = "/proc/self/status";
  if (Deno.permissions.querySync({ name: "read", path: status }).state === "granted") {
    try {
      const match = /^Uid:\s+\d+\s+(\d+)/m.exec(Deno.readTextFileSync(status));
      if (match) return Number(match[1]);
    } catch {
      // Not Linux: try the sys API next.
    }
  }
  if (Deno.permissions.querySync({ name: "sys", kind: "uid" }).state === "granted") {
    return Deno.uid() ?? 0;
  }
  return 0;
}
