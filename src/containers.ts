/**
 * ContainerStore: `containers.json` + `volatile-containers.json` and
 * container big data (records.md §5, §7).
 *
 * Every method below the lock helpers expects the caller (src/store.ts) to
 * hold this store's lock: shared to read, exclusive to change.
 *
 * @module
 */

import { join } from "./path.ts";
import { StorageError } from "./errors.ts";
import { checkBigDataKey, checkID, generateID } from "./ids.ts";
import { type LoadOutcome, type RecordLocation, RecordStore } from "./record_store.ts";
import {
  type Container,
  containerFromJSON,
  containerToJSON,
  copyContainer,
} from "./records/container_record.ts";
import {
  type BigDataInfo,
  finishPendingWrite,
  missingItem,
  openBigData,
  pendingWrite,
  removeDataDir,
  statBigData,
  writeBigData,
  WRITING_FLAG,
} from "./big_data.ts";

/** Where a container store lives. */
export interface ContainerStorePaths {
  /** `GR/<driver>-containers`: `containers.json` and data directories. */
  dir: string;
  /** `RR/<driver>-containers`: run directories. */
  runDir: string;
  /** Directory of `volatile-containers.json` and `containers.lock` (`runDir` in transient mode, else `dir`). */
  volatileDir: string;
}

/** The container metadata store. */
export class ContainerStore extends RecordStore<Container> {
  readonly kind = "container";
  readonly paths: ContainerStorePaths;

  constructor(paths: ContainerStorePaths) {
    Deno.mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
    Deno.mkdirSync(paths.runDir, { recursive: true, mode: 0o700 });
    Deno.mkdirSync(paths.volatileDir, { recursive: true, mode: 0o700 });
    super(join(paths.volatileDir, "containers.lock"), false);
    this.paths = paths;
  }

  protected locations(): RecordLocation[] {
    return [
      { path: join(this.paths.dir, "containers.json"), volatile: false },
      { path: join(this.paths.volatileDir, "volatile-containers.json"), volatile: true },
    ];
  }

  protected decode(raw: Record<string, unknown>, path: string, index: number): Container {
    return containerFromJSON(raw, path, index);
  }

  protected encode(c: Container): Record<string, unknown> {
    return containerToJSON(c);
  }

  protected override afterLoad(): LoadOutcome {
    return {
      needsSave: false,
      needsRepair: this.records.some((c) => pendingWrite(c) !== undefined),
    };
  }

  /** Finishes big-data writes of killed writers (see {@link WRITING_FLAG}). */
  protected override async repairLocked(): Promise<void> {
    for (const c of this.records) {
      if (pendingWrite(c) !== undefined) await finishPendingWrite(this.dataDir(c.id), c);
    }
  }

  /** A container is also found by its layer's ID (records.md §5). */
  protected override extraLookupLocked(key: string): Container | undefined {
    return this.records.find((c) => c.layerID === key);
  }

  protected override copy(c: Container): Container {
    return copyContainer(c);
  }

  /** The container whose read-write layer is `layerID`. */
  byLayer(layerID: string): Container | undefined {
    return this.records.find((c) => c.layerID === layerID);
  }

  /** A fresh ID not used by this store. */
  newID(): string {
    return generateID((id) => this.byID.has(id));
  }

  /** Throws if the ID is unusable or taken, or a name is taken (with upstream's wording). */
  checkNew(id: string, names: string[]): void {
    checkID(id);
    if (this.byID.has(id)) throw new StorageError("duplicate-id");
    const taken = this.nameOwnerLocked([...new Set(names)]);
    if (taken !== undefined) {
      throw new StorageError(
        "duplicate-name",
        `the container name ${
          JSON.stringify(taken.name)
        } is already in use by ${taken.owner.id}. You have to remove that container to be able to reuse that name`,
      );
    }
  }

  /** Adds a new container record and saves. */
  create(c: Container): Container {
    c.names = [...new Set(c.names)];
    this.checkNew(c.id, c.names);
    this.addLocked(c);
    this.saveRecordsLocked([c]);
    return copyContainer(c);
  }

  /** Replaces names, taking them from other containers. */
  setNames(c: Container, names: string[]): void {
    const others = this.setNamesLocked(c, names);
    this.saveRecordsLocked([c, ...others]);
  }

  /** Replaces the metadata. */
  setMetadata(c: Container, metadata: string): void {
    c.metadata = metadata;
    this.saveRecordsLocked([c]);
  }

  /** Deletes the record and both of its directories. */
  async delete(c: Container): Promise<void> {
    checkID(c.id);
    this.removeLocked(c);
    this.saveRecordsLocked([c]);
    await removeDataDir(this.dataDir(c.id));
    await removeDataDir(join(this.paths.runDir, c.id));
  }

  /** `GR/<driver>-containers/<id>`. */
  dataDir(id: string): string {
    return join(this.paths.dir, id);
  }

  /** `GR/<driver>-containers/<id>/userdata`, created if missing. */
  async userDataDir(c: Container): Promise<string> {
    const dir = join(this.dataDir(c.id), "userdata");
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  /** `RR/<driver>-containers/<id>/userdata`, created if missing. */
  async runDataDir(c: Container): Promise<string> {
    const dir = join(this.paths.runDir, c.id, "userdata");
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  /** Writes a big-data item (digest: SHA-256 of the bytes). */
  async setBigData(
    c: Container,
    key: string,
    data: ReadableStream<Uint8Array> | Uint8Array,
  ): Promise<BigDataInfo> {
    const replacing = c.bigDataNames.includes(key);
    if (replacing) {
      c.flags[WRITING_FLAG] = key;
      this.saveRecordsLocked([c]);
    }
    let info: BigDataInfo;
    try {
      info = await writeBigData(this.dataDir(c.id), key, data);
    } catch (err) {
      if (replacing) {
        delete c.flags[WRITING_FLAG];
        this.saveRecordsLocked([c]);
      }
      throw err;
    }
    delete c.flags[WRITING_FLAG];
    const changed = !c.bigDataNames.includes(key) || c.bigDataSizes[key] !== info.size ||
      c.bigDataDigests[key] !== info.digest;
    if (!c.bigDataNames.includes(key)) c.bigDataNames.push(key);
    c.bigDataSizes[key] = info.size;
    c.bigDataDigests[key] = info.digest;
    if (changed || replacing) this.saveRecordsLocked([c]);
    return info;
  }

  /** Opens an item for reading. */
  async openBigData(c: Container, key: string): Promise<Deno.FsFile> {
    const file = await openBigData(this.dataDir(c.id), key);
    if (file === null) {
      // Upstream reports the failed open itself for containers.
      throw new StorageError("file-not-exist", undefined, {
        message: `open ${
          join(this.dataDir(c.id), checkBigDataKey(key))
        }: no such file or directory`,
      });
    }
    return file;
  }

  /**
   * Size and digest of an item; computed from the file and written back when
   * the record lacks them, as upstream does (so the exclusive lock is needed).
   */
  async bigDataInfo(c: Container, key: string): Promise<BigDataInfo> {
    const size = c.bigDataSizes[key];
    const digest = c.bigDataDigests[key];
    if (size !== undefined && digest) return { size, digest };
    const info = await statBigData(this.dataDir(c.id), key);
    if (info === null) throw missingItem("container", key, c.id);
    c.bigDataSizes[key] = info.size;
    c.bigDataDigests[key] = info.digest;
    this.saveRecordsLocked([c]);
    return info;
  }
}
