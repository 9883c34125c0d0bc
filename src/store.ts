/**
 * The public face of a store: every operation the CLI and library users
 * need, each taking its locks in the store's order (written down once, in
 * src/store_core.ts) and releasing them before it returns.
 *
 * Lock hold times: readers (listings, lookups, big-data reads) hold the
 * shared locks only while they copy records. Creating a layer, applying a
 * diff and copying a layer for an ID map do their slow work (copying,
 * extracting, hashing, writing tar-split) in a private staging directory
 * with no store lock held; only the final commit (a rename and a JSON
 * write, milliseconds) holds the layer store's exclusive lock. Mounting
 * holds the graph lock, layer lock and mount lock for the mount(8) call.
 *
 * @module
 */

import { StorageError } from "./errors.ts";
import { StoreCore, type StoreOptions } from "./store_core.ts";
import type { Layer } from "./records/layer_record.ts";
import type { Image } from "./records/image_record.ts";
import type { Container } from "./records/container_record.ts";
import type { Change } from "./drivers/driver.ts";
import type { BigDataInfo } from "./big_data.ts";
import type { LayerInput } from "./archive/layer_stream.ts";
import type { CreateLayerOptions } from "./ops/create_layer.ts";
import {
  createImage,
  type CreateImageOptions,
  imageSizeLocked,
  layerSizeLocked,
} from "./ops/images.ts";
import type { CreateContainerOptions } from "./ops/containers.ts";
import { deleteAnything, deleteContainer, deleteImage, deleteLayer, wipe } from "./ops/delete.ts";
import { mount, mountCount, type MountOptions, unmount } from "./ops/mount.ts";
import {
  changeNames,
  type Existence,
  exists,
  getMetadata,
  getNames,
  setMetadata,
} from "./ops/names.ts";
import * as data from "./ops/data.ts";
import { shutdown, status } from "./ops/admin.ts";
import type { DiffOptions } from "./ops/diff.ts";
import { garbageCollect, type GarbageCollected } from "./ops/gc.ts";
import type { CheckOptions, CheckReport } from "./ops/check.ts";
import {
  type RecordFileRepair,
  repair,
  type RepairOptions,
  repairRecordFiles,
  type RepairResult,
} from "./ops/repair.ts";

// The operations that need the archive code (layer contents, diffs,
// checks) are imported when first called: the commands that only read
// records would otherwise load and compile all of it on every run.

export type { StoreOptions } from "./store_core.ts";
export type { CreateLayerOptions } from "./ops/create_layer.ts";
export type { CreateImageOptions } from "./ops/images.ts";
export type { CreateContainerOptions } from "./ops/containers.ts";
export type { MountOptions } from "./ops/mount.ts";
export type { Existence } from "./ops/names.ts";
export type { DiffOptions } from "./ops/diff.ts";
export type { GarbageCollected } from "./ops/gc.ts";
export type { CheckOptions, CheckProblem, CheckReport, Remedy } from "./ops/check.ts";
export type { RecordFileRepair, RepairOptions, RepairResult } from "./ops/repair.ts";

/**
 * Opens the store at `options.graphRoot` / `options.runRoot`, creating the
 * directories it needs.
 *
 * @example
 * ```ts
 * import { openStore } from "./store.ts";
 * const store = await openStore({ graphRoot: "/tmp/g", runRoot: "/tmp/r", driver: "vfs" });
 * console.log((await store.layers()).length);
 * ```
 */
export async function openStore(options: StoreOptions): Promise<Store> {
  return new Store(await StoreCore.open(options));
}

/**
 * A container store: layers, images and containers on disk, shared safely
 * with other cstor processes and with Go tools (Podman, Buildah, Skopeo).
 *
 * @example
 * ```ts
 * import { openStore } from "./store.ts";
 * const store = await openStore({ graphRoot: "/tmp/g", runRoot: "/tmp/r", driver: "vfs" });
 * const layer = await store.createLayer({ names: ["base"] });
 * const image = await store.createImage({ topLayer: layer.id, names: ["example:latest"] });
 * const container = await store.createContainer(image.id, { names: ["box"] });
 * console.log(await store.mount(container.id));
 * await store.unmount(container.id);
 * ```
 */
export class Store {
  readonly #core: StoreCore;

  /** Use {@link openStore}. */
  constructor(core: StoreCore) {
    this.#core = core;
  }

  /** The graph root. */
  get graphRoot(): string {
    return this.#core.graphRoot;
  }

  /** The run root. */
  get runRoot(): string {
    return this.#core.runRoot;
  }

  /** The driver's name (`vfs` or `overlay`). */
  get driverName(): string {
    return this.#core.driver.name;
  }

  /** The driver options in effect. */
  get driverOptions(): readonly string[] {
    return this.#core.driver.options;
  }

  /** True when containers and their layers are kept under the run root. */
  get transient(): boolean {
    return this.#core.transient;
  }

  // ---- layers ----

  /** Creates a layer; with `options.diff`, fills it from a (compressed) tar stream. */
  createLayer(options: CreateLayerOptions = {}): Promise<Layer> {
    return import("./ops/create_layer.ts").then((m) => m.createLayer(this.#core, options));
  }

  /** Applies a (compressed) tar stream to an existing layer; returns the updated record. */
  applyDiff(layer: string, diff: LayerInput): Promise<Layer> {
    return import("./ops/create_layer.ts").then((m) => m.applyDiff(this.#core, layer, diff));
  }

  /** Every layer: primary store first, then additional stores. */
  layers(): Promise<Layer[]> {
    return this.#core.withLocks(
      { layers: "r" },
      () => this.#core.allLayerStores().flatMap((s) => s.list()),
    );
  }

  /** One layer by ID, name or unique prefix; undefined when unknown. */
  layer(key: string): Promise<Layer | undefined> {
    return this.#core.withLocks({ layers: "r" }, () => {
      for (const s of this.#core.allLayerStores()) {
        const l = s.get(key);
        if (l) return l;
      }
      return undefined;
    });
  }

  /** Deletes a layer nothing uses. */
  deleteLayer(key: string): Promise<void> {
    return deleteLayer(this.#core, key);
  }

  /** The layer's tar stream against `from` (its parent by default). */
  diff(key: string, options: DiffOptions = {}): Promise<ReadableStream<Uint8Array>> {
    return import("./ops/diff.ts").then((m) => m.diff(this.#core, key, options));
  }

  /** What changed in a layer against `from` (its parent by default). */
  changes(key: string, from?: string): Promise<Change[]> {
    return import("./ops/diff.ts").then((m) => m.changes(this.#core, key, from));
  }

  /** Estimated size of a layer's diff contents. */
  diffSize(key: string, from?: string): Promise<number> {
    return import("./ops/diff.ts").then((m) => m.diffSize(this.#core, key, from));
  }

  /** A layer's size: its recorded diff size, else the driver's estimate. */
  layerSize(key: string): Promise<number> {
    return this.#core.withLocks({ layers: "r" }, () => {
      const found = this.#core.findLayer(key);
      if (!found) throw new StorageError("layer-unknown");
      return layerSizeLocked(this.#core, found.layer);
    });
  }

  /** Keys of a layer's big-data items. */
  listLayerBigData(key: string): Promise<string[]> {
    return data.listLayerData(this.#core, key);
  }

  /** A layer's big-data item. */
  layerBigData(key: string, name: string): Promise<Uint8Array> {
    return data.layerData(this.#core, key, name);
  }

  /** Writes a layer's big-data item. */
  setLayerBigData(
    key: string,
    name: string,
    value: ReadableStream<Uint8Array> | Uint8Array,
  ): Promise<void> {
    const stream = value instanceof Uint8Array ? ReadableStream.from([value]) : value;
    return data.setLayerData(this.#core, key, name, stream);
  }

  // ---- images ----

  /** Creates an image record on a top layer. */
  createImage(options: CreateImageOptions = {}): Promise<Image> {
    return createImage(this.#core, options);
  }

  /** Every image: primary store first, then additional stores. */
  images(): Promise<Image[]> {
    return this.#core.withLocks(
      { images: "r" },
      () => this.#core.allImageStores().flatMap((s) => s.list()),
    );
  }

  /** One image by ID, name or unique prefix; undefined when unknown. */
  image(key: string): Promise<Image | undefined> {
    return this.#core.withLocks({ images: "r" }, () => {
      for (const s of this.#core.allImageStores()) {
        const i = s.get(key);
        if (i) return i;
      }
      return undefined;
    });
  }

  /** Images whose digest list contains `digest`. */
  imagesByDigest(digest: string): Promise<Image[]> {
    return this.#core.withLocks(
      { images: "r" },
      () => this.#core.allImageStores().flatMap((s) => s.byDigest(digest)),
    );
  }

  /**
   * Deletes an image and the layers only it used; with `commit: false` only
   * reports which layers would be removed.
   */
  deleteImage(key: string, options: { commit?: boolean } = {}): Promise<string[]> {
    return deleteImage(this.#core, key, options.commit ?? true);
  }

  /** Total size of an image's layers and big data. */
  imageSize(key: string): Promise<number> {
    return this.#core.withLocks({ layers: "r", images: "r" }, () => {
      const found = this.#core.findImage(key);
      if (!found) throw new StorageError("image-unknown");
      return imageSizeLocked(this.#core, found.image);
    });
  }

  /** Keys of an image's big-data items. */
  listImageBigData(key: string): Promise<string[]> {
    return data.listImageData(this.#core, key);
  }

  /** An image's big-data item. */
  imageBigData(key: string, name: string): Promise<Uint8Array> {
    return data.imageData(this.#core, key, name);
  }

  /** The size of an image's big-data item. */
  imageBigDataSize(key: string, name: string): Promise<number> {
    return data.imageDataSize(this.#core, key, name);
  }

  /** The digest of an image's big-data item. */
  imageBigDataDigest(key: string, name: string): Promise<string> {
    return data.imageDataDigest(this.#core, key, name);
  }

  /**
   * Writes an image's big-data item. For `manifest*` keys, `manifestDigest`
   * computes the digest recorded (plain SHA-256 of the bytes by default).
   */
  setImageBigData(
    key: string,
    name: string,
    value: ReadableStream<Uint8Array> | Uint8Array,
    manifestDigest?: (bytes: Uint8Array) => string,
  ): Promise<BigDataInfo> {
    return data.setImageData(this.#core, key, name, value, manifestDigest);
  }

  // ---- containers ----

  /** Creates a container (and its read-write layer) from an image (`""` for none). */
  createContainer(image: string, options: CreateContainerOptions = {}): Promise<Container> {
    return import("./ops/containers.ts").then((m) => m.createContainer(this.#core, image, options));
  }

  /** Every container. */
  containers(): Promise<Container[]> {
    return this.#core.withLocks({ containers: "r" }, () => this.#core.containers.list());
  }

  /** One container by ID, name, layer ID or unique prefix; undefined when unknown. */
  container(key: string): Promise<Container | undefined> {
    return this.#core.withLocks({ containers: "r" }, () => this.#core.containers.get(key));
  }

  /** Deletes a container, its layer and its directories. */
  deleteContainer(key: string): Promise<void> {
    return deleteContainer(this.#core, key);
  }

  /** `GR/<driver>-containers/<id>/userdata`, created if missing. */
  containerDirectory(key: string): Promise<string> {
    return this.#core.withLocks({ containers: "r" }, async () => {
      const c = this.#core.containers.find(key);
      if (!c) throw new StorageError("container-unknown");
      return await this.#core.containers.userDataDir(c);
    });
  }

  /** `RR/<driver>-containers/<id>/userdata`, created if missing. */
  containerRunDirectory(key: string): Promise<string> {
    return this.#core.withLocks({ containers: "r" }, async () => {
      const c = this.#core.containers.find(key);
      if (!c) throw new StorageError("container-unknown");
      return await this.#core.containers.runDataDir(c);
    });
  }

  /** Keys of a container's big-data items. */
  listContainerBigData(key: string): Promise<string[]> {
    return data.listContainerData(this.#core, key);
  }

  /** A container's big-data item. */
  containerBigData(key: string, name: string): Promise<Uint8Array> {
    return data.containerData(this.#core, key, name);
  }

  /** Size and digest of a container's big-data item. */
  containerBigDataInfo(key: string, name: string): Promise<BigDataInfo> {
    return data.containerDataInfo(this.#core, key, name);
  }

  /** Writes a container's big-data item. */
  setContainerBigData(
    key: string,
    name: string,
    value: ReadableStream<Uint8Array> | Uint8Array,
  ): Promise<BigDataInfo> {
    return data.setContainerData(this.#core, key, name, value);
  }

  // ---- any kind ----

  /** Names of whatever `key` identifies (layers, then images, then containers). */
  names(key: string): Promise<string[]> {
    return getNames(this.#core, key);
  }

  /** Adds names (taken from other objects of the same kind); returns the result. */
  addNames(key: string, names: string[]): Promise<string[]> {
    return changeNames(this.#core, key, names, true);
  }

  /** Replaces names (taken from other objects of the same kind); returns the result. */
  setNames(key: string, names: string[]): Promise<string[]> {
    return changeNames(this.#core, key, names, false);
  }

  /** Metadata of whatever `key` identifies; undefined when unknown. */
  metadata(key: string): Promise<string | undefined> {
    return getMetadata(this.#core, key);
  }

  /** Replaces the metadata of a layer, image or container. */
  setMetadata(key: string, metadata: string): Promise<void> {
    return setMetadata(this.#core, key, metadata);
  }

  /** Which kinds `key` exists as. */
  exists(key: string): Promise<Existence> {
    return exists(this.#core, key);
  }

  /** Deletes a container, image record or layer without safety checks. */
  delete(key: string): Promise<void> {
    return deleteAnything(this.#core, key);
  }

  // ---- mounts ----

  /** Mounts a layer or container; returns the mount point. */
  mount(key: string, options: MountOptions = {}): Promise<string> {
    return mount(this.#core, key, options);
  }

  /** Unmounts once (`force`: completely); returns true when still mounted. */
  unmount(key: string, options: { force?: boolean } = {}): Promise<boolean> {
    return unmount(this.#core, key, options.force ?? false);
  }

  /** How many times a layer or container is mounted. */
  mounted(key: string): Promise<number> {
    return mountCount(this.#core, key);
  }

  // ---- the whole store ----

  /** Status pairs as `containers-storage status` prints them. */
  status(): Promise<Array<[string, string]>> {
    return status(this.#core);
  }

  /**
   * Shuts the driver down; fails while any layer is mounted (with `force`,
   * unmounts them first and still fails, as upstream does).
   */
  shutdown(options: { force?: boolean } = {}): Promise<void> {
    return shutdown(this.#core, options.force ?? false);
  }

  /** Deletes every container, image and layer. */
  wipe(): Promise<void> {
    return wipe(this.#core);
  }

  /**
   * Removes container directories and driver layer directories no record
   * names (as a transient store needs after a reboot), and staging
   * directories of killed processes. Never removes anything a record names.
   */
  garbageCollect(): Promise<GarbageCollected> {
    return garbageCollect(this.#core);
  }

  /** Checks every record against the disk and the records it names; changes nothing. */
  check(options: CheckOptions = {}): Promise<CheckReport> {
    return import("./ops/check.ts").then((m) => m.check(this.#core, options));
  }

  /** Removes what `report` found damaged and what depends on it (containers only if asked). */
  repair(report: CheckReport, options: RepairOptions = {}): Promise<RepairResult> {
    return repair(this.#core, report, options);
  }

  /**
   * Drops records with unusable IDs (empty, `..`, containing `/`), which
   * keep the store from loading; each changed file's old content is kept
   * beside it. Files that are not valid JSON are left as they are.
   */
  repairRecordFiles(): Promise<RecordFileRepair[]> {
    return repairRecordFiles(this.#core);
  }
}
