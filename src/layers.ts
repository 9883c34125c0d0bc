/**
 * LayerStore: `layers.json` + `volatile-layers.json`, the tar-split files,
 * layer big data, and (for the primary store) mount counts.
 *
 * Every method below the lock helpers expects the caller (src/store.ts) to
 * hold this store's lock: shared to read, exclusive to change.
 *
 * @module
 */

import { join } from "./path.ts";
import { isNotFound, StorageError } from "./errors.ts";
import { checkBigDataKey, checkID, generateID, idProblem } from "./ids.ts";
import { fileStamp, writeStreamAtomic } from "./record_file.ts";
import { type LoadOutcome, type RecordLocation, RecordStore } from "./record_store.ts";
import {
  APPLYING_FLAG,
  copyLayer,
  isIncomplete,
  type Layer,
  layerFromJSON,
  layerToJSON,
  pendingApply,
} from "./records/layer_record.ts";
import { stagingRoot } from "./drivers/staging.ts";
import { MountTable } from "./mounts.ts";
import type { Driver, LayerRef } from "./drivers/driver.ts";

/** Where a layer store lives. */
export interface LayerStorePaths {
  /** `GR/<driver>-layers` (or `S/<driver>-layers` for an additional store). */
  layersDir: string;
  /** Directory of `volatile-layers.json` (`RR/<driver>-layers` in transient mode). */
  volatileDir: string;
  /** `RR/<driver>-layers`, holding the mount table; absent for read-only stores. */
  runLayersDir?: string;
}

/** The layer metadata store. */
export class LayerStore extends RecordStore<Layer> {
  readonly kind = "layer";
  readonly paths: LayerStorePaths;
  readonly driver: Driver;
  /** Mount counts; only the primary (read-write) store has them. */
  readonly mounts: MountTable | undefined;

  constructor(paths: LayerStorePaths, driver: Driver, readOnly: boolean) {
    if (!readOnly) {
      Deno.mkdirSync(paths.layersDir, { recursive: true, mode: 0o700 });
      if (paths.runLayersDir) Deno.mkdirSync(paths.runLayersDir, { recursive: true, mode: 0o700 });
    }
    super(join(paths.layersDir, "layers.lock"), readOnly);
    this.paths = paths;
    this.driver = driver;
    this.mounts = !readOnly && paths.runLayersDir ? new MountTable(paths.runLayersDir) : undefined;
  }

  protected locations(): RecordLocation[] {
    return [
      { path: join(this.paths.layersDir, "layers.json"), volatile: false },
      { path: join(this.paths.volatileDir, "volatile-layers.json"), volatile: true },
    ];
  }

  protected decode(raw: Record<string, unknown>, path: string, index: number): Layer {
    const layer = layerFromJSON(raw, path, index);
    layer.readOnly = this.readOnly;
    return layer;
  }

  protected encode(layer: Layer): Record<string, unknown> {
    return layerToJSON(layer);
  }

  protected override afterLoad(): LoadOutcome {
    this.mounts?.load((id) => this.byID.has(id));
    for (const layer of this.records) this.applyMount(layer);
    // Flagged layers of read-only stores are tolerated (locking.md §4).
    const needsRepair = !this.readOnly &&
      this.records.some((l) => isIncomplete(l) || pendingApply(l) !== undefined);
    return { needsSave: false, needsRepair };
  }

  protected override changedBesidesToken(): boolean {
    if (this.locations().some((l) => fileStamp(l.path) !== this.stamps.get(l.path))) return true;
    if (this.mounts?.changed()) {
      this.mounts.load((id) => this.byID.has(id));
      for (const layer of this.records) this.applyMount(layer);
    }
    return false;
  }

  protected override rememberFiles(): void {
    for (const l of this.locations()) this.stamps.set(l.path, fileStamp(l.path));
  }

  /** Deletes layers whose creation or deletion was interrupted (records.md §2.1). */
  protected override async repairLocked(): Promise<void> {
    for (const layer of this.records.filter(isIncomplete)) {
      await this.removeContentsLocked(layer.id);
      this.removeLocked(layer);
    }
    for (const layer of this.records) {
      const name = pendingApply(layer);
      if (name === undefined) continue;
      delete layer.flags[APPLYING_FLAG];
      // The name came from disk: it must name an entry of the staging area.
      if (idProblem(name) !== undefined) continue;
      const staged = join(stagingRoot(this.driver.home), name);
      await this.driver.resumeCommit?.(staged, layer.id);
      try {
        await Deno.rename(join(staged, "tar-split.gz"), this.tarSplitPath(layer.id));
      } catch (err) {
        ignoreNotFound(err); // already moved before the kill
      }
    }
  }

  private applyMount(layer: Layer): void {
    const m = this.mounts?.get(layer.id) ?? { path: "", count: 0 };
    layer.mountPoint = m.path;
    layer.mountCount = m.count;
  }

  /** `<layersDir>/<id>.tar-split.gz`. */
  tarSplitPath(id: string): string {
    return join(this.paths.layersDir, `${id}.tar-split.gz`);
  }

  /** `<layersDir>/<id>/`, the layer's big-data directory. */
  bigDataDir(id: string): string {
    return join(this.paths.layersDir, id);
  }

  protected override copy(layer: Layer): Layer {
    // Mount counts change without the layer records changing: take them fresh.
    this.applyMount(layer);
    return copyLayer(layer);
  }

  /** The layer's reference for driver calls. */
  ref(layer: Layer): LayerRef {
    return {
      id: layer.id,
      parent: layer.parent,
      maps: { uidMap: layer.uidMap, gidMap: layer.gidMap },
    };
  }

  /** IDs of layers whose parent is `id`. */
  children(id: string): Layer[] {
    return this.records.filter((l) => l.parent === id);
  }

  /** A fresh ID not used by this store. */
  newID(): string {
    return generateID((id) => this.byID.has(id));
  }

  /** Throws if `id` is unusable or taken, or one of `names` is taken. */
  checkNew(id: string, names: string[]): void {
    checkID(id);
    if (this.byID.has(id)) throw new StorageError("duplicate-id");
    if (this.nameOwnerLocked(names) !== undefined) throw new StorageError("duplicate-name");
  }

  /** Adds a complete record and saves (exclusive lock held). */
  add(layer: Layer): Layer {
    this.checkNew(layer.id, layer.names);
    this.addLocked(layer);
    this.saveRecordsLocked([layer]);
    return copyLayer(layer);
  }

  /** Saves after a change to `layer`'s live record. */
  saveLayer(layer: Layer): void {
    this.saveRecordsLocked([layer]);
  }

  /** Replaces a layer's names; the names are taken from other layers. */
  setNames(layer: Layer, names: string[]): void {
    const others = this.setNamesLocked(layer, names);
    this.saveRecordsLocked([layer, ...others]);
  }

  /** Replaces a layer's metadata. */
  setMetadata(layer: Layer, metadata: string): void {
    layer.metadata = metadata;
    this.saveRecordsLocked([layer]);
  }

  /** Sets one flag. */
  setFlag(layer: Layer, key: string, value: unknown): void {
    layer.flags[key] = value;
    this.saveRecordsLocked([layer]);
  }

  /** The path of a big-data item of a layer. */
  bigDataPath(layer: Layer, key: string): string {
    return join(this.bigDataDir(layer.id), checkBigDataKey(key));
  }

  /** Opens a big-data item; the error names the item as upstream does. */
  async openBigData(layer: Layer, key: string): Promise<Deno.FsFile> {
    try {
      return await Deno.open(this.bigDataPath(layer, key), { read: true });
    } catch (err) {
      if (isNotFound(err)) {
        throw new StorageError(
          "file-not-exist",
          `locating item named ${JSON.stringify(key)} for layer with ID ${
            JSON.stringify(layer.id)
          }`,
        );
      }
      throw err;
    }
  }

  /** Writes a big-data item atomically and records its key. */
  async setBigData(layer: Layer, key: string, data: ReadableStream<Uint8Array>): Promise<void> {
    const path = this.bigDataPath(layer, key);
    await Deno.mkdir(this.bigDataDir(layer.id), { recursive: true, mode: 0o700 });
    await writeStreamAtomic(path, data);
    if (!layer.bigDataNames.includes(key)) {
      layer.bigDataNames.push(key);
      this.saveRecordsLocked([layer]);
    }
  }

  /**
   * Deletes a layer: unmounts it fully, flags it incomplete (so a crash
   * part-way leaves something the next open finishes), removes its
   * contents and files, then the record.
   */
  async delete(layer: Layer): Promise<void> {
    if (this.mounts) {
      const m = this.mounts.get(layer.id);
      if (m.count > 0) {
        await this.mounts.lock.lock();
        try {
          this.mounts.load((id) => this.byID.has(id));
          await this.driver.unmount(layer.id);
          this.mounts.delete(layer.id);
          this.mounts.save(this.records.map((l) => l.id));
        } finally {
          this.mounts.lock.unlock();
        }
      }
    }
    layer.flags["incomplete"] = true;
    this.saveRecordsLocked([layer]);
    await this.removeContentsLocked(layer.id);
    this.removeLocked(layer);
    this.saveRecordsLocked([layer]);
  }

  /** Removes a layer's driver state, tar-split and big data (missing parts are fine). */
  private async removeContentsLocked(id: string): Promise<void> {
    checkID(id); // never turn a bad ID from disk into a path to delete
    await this.driver.remove(id);
    await Deno.remove(this.tarSplitPath(id)).catch(ignoreNotFound);
    await Deno.remove(this.bigDataDir(id), { recursive: true }).catch(ignoreNotFound);
  }
}

function ignoreNotFound(err: unknown): void {
  if (!isNotFound(err)) throw err;
}
