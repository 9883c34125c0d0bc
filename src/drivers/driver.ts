/**
 * The graph-driver interface: what the layer store asks of vfs and overlay.
 * Drivers own the layer contents under `GR/<driver>/`; they know nothing of
 * records or locks (the layer store holds the right lock around each call).
 *
 * @module
 */

import type { IDMap } from "../archive/idmap.ts";
import type { TarHeader, TarReader } from "../archive/tar_types.ts";
import type { VerifiedDirs } from "./open_inside.ts";
import type { ReadFile } from "../sys/fs_ops.ts";

/**
 * ID maps of a layer's on-disk contents (empty lists: host IDs).
 *
 * @example
 * ```ts
 * import type { IDMappings } from "@cstor/storage";
 * const maps: IDMappings = {
 *   uidMap: [{ container_id: 0, host_id: 100000, size: 65536 }],
 *   gidMap: [{ container_id: 0, host_id: 100000, size: 65536 }],
 * };
 * console.log(maps.uidMap.length);
 * ```
 */
export interface IDMappings {
  /** UID ranges. */
  uidMap: IDMap[];
  /** GID ranges. */
  gidMap: IDMap[];
}

/** What the store knows of a layer when it asks the driver about it. */
export interface LayerRef {
  id: string;
  /** Parent layer ID, `""` for a base layer. */
  parent: string;
  /** The layer's ID maps. */
  maps: IDMappings;
}

/** Options for creating a layer's driver state. */
export interface CreateOptions {
  mountLabel: string;
  /** Maps the new layer's contents use. */
  maps: IDMappings;
  /** Maps of the parent's contents (to re-own the copy when they differ). */
  parentMaps: IDMappings;
  /** Per-layer driver options (`--storage-opt` at creation); vfs refuses any. */
  storageOpt?: Record<string, string>;
}

/** A layer's driver state being built in a private directory, not yet visible. */
export interface StagedLayer {
  /** The private directory (driver-specific layout inside). */
  readonly dir: string;
  /** Where a tar stream is extracted (vfs: the tree; overlay: `diff/`). */
  readonly contentDir: string;
  /** Releases the staging lock; called after commit or discard. */
  release(): void;
}

/** A mount request. */
export interface MountRequest {
  mountLabel: string;
  /** Mount options (e.g. `["ro"]`); empty for the default. */
  options: string[];
  /** ID maps the caller wants to see (only drivers that shift IDs honour differing ones). */
  maps?: IDMappings;
  /** Mount for a volatile container. */
  volatile?: boolean;
}

/** One change of a layer against its parent: `{Path, Kind}` as Go names them (0 Modify, 1 Add, 2 Delete). */
export type { Change } from "../archive/changes.ts";
import type { Change } from "../archive/changes.ts";

/** Options for applying a tar stream. */
export interface ApplyOptions {
  maps: IDMappings;
  ignoreChownErrors?: boolean;
  /** Sees every header (the store collects UID/GID sets here). */
  onHeader?: (header: TarHeader) => void;
}

/** A graph driver. */
export interface Driver {
  /** The name the driver reports (`vfs`, `overlay`). */
  readonly name: string;
  /** `GR/<name>`. */
  readonly home: string;
  /** Driver options as given (`vfs.imagestore=/x`, …). */
  readonly options: readonly string[];
  /** Graph roots of additional read-only image stores named in the options. */
  readonly imageStores: readonly string[];

  /** Status pairs shown by `status` after the common ones. */
  status(): Promise<Array<[string, string]>>;

  /** Starts building a new layer on `parent` in a private directory. */
  stage(parent: LayerRef | undefined, options: CreateOptions): Promise<StagedLayer>;
  /** Starts rebuilding an existing layer: a private copy of its own contents. */
  stageExisting(layer: LayerRef): Promise<StagedLayer>;
  /** Makes a staged layer the layer `id` (replacing its contents if it exists). Fast: renames only. */
  commit(staged: StagedLayer, id: string, parent: LayerRef | undefined): Promise<void>;
  /** Throws away a staged layer. */
  discard(staged: StagedLayer): Promise<void>;
  /** Removes staging directories left by killed processes. */
  removeStaleStaging(): Promise<void>;
  /**
   * Finishes a {@link commit} into layer `id` that a killed process began
   * from `stagingDir`; true when the layer now holds the staged contents.
   * Drivers without it leave such a layer as the kill left it.
   */
  resumeCommit?(stagingDir: string, id: string): Promise<boolean>;

  /** Extracts a tar stream into a staged layer. Returns the driver's size of what was applied. */
  applyDiff(
    staged: StagedLayer,
    parent: LayerRef | undefined,
    tar: TarReader,
    options: ApplyOptions,
  ): Promise<number>;

  /** Removes a layer's driver state (missing state is not an error). */
  remove(id: string): Promise<void>;
  /** True when the driver has state for `id`. */
  exists(id: string): boolean;
  /** IDs of every layer directory the driver holds (for garbage collection). */
  layerIDs(): Promise<string[]>;

  /** Mounts (or, for vfs, just locates) the layer; returns the mount point. */
  mount(layer: LayerRef, request: MountRequest): Promise<string>;
  /** Undoes {@link mount}. */
  unmount(id: string): Promise<void>;
  /** True when `path` is currently a mount point of this layer. */
  isMounted(id: string, path: string): Promise<boolean>;

  /** The uncompressed tar of `layer` against `from` (undefined: the whole tree). */
  diff(layer: LayerRef, from: LayerRef | undefined): Promise<ReadableStream<Uint8Array>>;
  /** Changes of `layer` against `from` (undefined: everything is added). */
  changes(layer: LayerRef, from: LayerRef | undefined): Promise<Change[]>;
  /** Estimated size of the diff's contents. */
  diffSize(layer: LayerRef, from: LayerRef | undefined): Promise<number>;
  /**
   * Opens a file of the layer by its tar name, for reassembling the layer's
   * tar stream from tar-split; null when the layer has no such file.
   * `verified` (one per reassembly) remembers directories already checked
   * to be real directories, so each is looked at once, not once per file.
   */
  openLayerFile(
    layer: LayerRef,
    name: string,
    verified?: VerifiedDirs,
  ): Promise<ReadFile | null>;

  /** Re-owns a layer's contents from one ID mapping to another. */
  updateIDMaps(layer: LayerRef, from: IDMappings, to: IDMappings): Promise<void>;

  /** Driver cleanup at store shutdown. */
  cleanup(): Promise<void>;
}

/** No ID mapping: host IDs. */
export const HOST_IDS: IDMappings = { uidMap: [], gidMap: [] };
