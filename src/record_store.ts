/**
 * What the layer, image and container stores share: records kept in one or
 * two JSON files guarded by one lock file, reloaded when the lock's change
 * token moved, saved atomically, found by ID, name or unique ID prefix.
 *
 * @module
 */

import { CorruptStoreError, StorageError } from "./errors.ts";
import { idProblem } from "./ids.ts";
import { getLockFile, type LockFile } from "./lock/lockfile.ts";
import type { LastWrite } from "./lock/last_write.ts";
import { goJSON } from "./go_json.ts";
import { readRecordArray, removeStaleTempFiles, writeFileAtomic } from "./record_file.ts";
import { dirname } from "./path.ts";

/** The fields every record kind has. */
export interface BaseRecord {
  id: string;
  names: string[];
  volatile?: boolean;
}

/** One JSON file of a store. */
export interface RecordLocation {
  path: string;
  /** Records flagged volatile live here; written without fsync. */
  volatile: boolean;
}

/** What a load found that only a writer may fix. */
export interface LoadOutcome {
  /** The files must be rewritten (duplicate names were resolved). */
  needsSave: boolean;
  /** Kind-specific repairs are due (e.g. incomplete layers). */
  needsRepair: boolean;
}

/**
 * Base of the record stores. Subclasses say how records are decoded and
 * encoded and add their own repairs and indexes.
 *
 * Locking: every public method of a subclass runs between
 * `startReading()`/`stopReading()` or `startWriting()`/`stopWriting()`;
 * the `*Locked` helpers assume the caller holds the right one.
 */
export abstract class RecordStore<T extends BaseRecord> {
  /** The lock file guarding every file of this store. */
  readonly lock: LockFile;
  /** True for additional stores: read, never written. */
  readonly readOnly: boolean;
  /** What kind of record this is, for messages ("layer", "image", "container"). */
  abstract readonly kind: string;

  // All of these are guarded by `lock` (shared to read, exclusive to change).
  protected records: T[] = [];
  protected byID: Map<string, T> = new Map();
  protected byName: Map<string, T> = new Map();
  protected lastWrite: LastWrite | undefined;
  protected stamps: Map<string, string> = new Map();
  protected loaded = false;
  #tempsCleaned = false;

  constructor(lockPath: string, readOnly: boolean) {
    this.readOnly = readOnly;
    this.lock = getLockFile(lockPath, { readOnly });
  }

  /** The store's files, in load order. */
  protected abstract locations(): RecordLocation[];
  /** Decodes one raw record. */
  protected abstract decode(raw: Record<string, unknown>, path: string, index: number): T;
  /** Encodes one record for its file. */
  protected abstract encode(record: T): Record<string, unknown>;
  /** A copy of a record for callers, who must not change the store's own. */
  protected abstract copy(record: T): T;
  /** Checks after a load; may ask for a save or a repair. */
  protected afterLoad(): LoadOutcome {
    return { needsSave: false, needsRepair: false };
  }
  /** Kind-specific repairs, with the exclusive lock held. */
  protected repairLocked(): Promise<void> {
    return Promise.resolve();
  }
  /** Extra change detection beyond the lock's token (layers: file stamps, mount counts). */
  protected changedBesidesToken(): boolean {
    return false;
  }
  /** Called after a successful load or save, to remember what was seen. */
  protected rememberFiles(): void {}

  /** Takes the shared lock and makes the in-memory records current. */
  async startReading(): Promise<void> {
    for (let attempt = 0;; attempt++) {
      await this.lock.rLock();
      let outcome: LoadOutcome;
      try {
        outcome = this.reloadIfChanged();
      } catch (err) {
        this.lock.unlock();
        throw err;
      }
      if (this.readOnly || (!outcome.needsSave && !outcome.needsRepair)) return;
      // Repairs need the exclusive lock: drop ours, repair, then look again.
      // Forget what was loaded so the writer loads (and repairs) afresh.
      this.lock.unlock();
      this.loaded = false;
      if (attempt >= 2) {
        throw new StorageError("lock-failed", undefined, {
          message: `${this.kind} store at ${this.locations()[0].path} keeps needing repairs`,
        });
      }
      await this.startWriting();
      this.stopWriting();
    }
  }

  /** Releases what {@link startReading} took. */
  stopReading(): void {
    this.lock.unlock();
  }

  /** Takes the exclusive lock, reloads if needed and performs due repairs. */
  async startWriting(): Promise<void> {
    if (this.readOnly) {
      throw new StorageError("read-only-store", this.locations()[0]?.path);
    }
    await this.lock.lock();
    try {
      if (!this.#tempsCleaned) {
        // Under the exclusive lock nobody else is writing these files, so
        // any .tmp- file beside them was left by a killed writer.
        for (const dir of new Set(this.locations().map((l) => dirname(l.path)))) {
          removeStaleTempFiles(dir);
        }
        this.#tempsCleaned = true;
      }
      const outcome = this.reloadIfChanged();
      if (outcome.needsRepair) await this.repairLocked();
      if (outcome.needsSave || outcome.needsRepair) this.saveLocked(this.locations());
    } catch (err) {
      this.lock.unlock();
      throw err;
    }
  }

  /** Releases what {@link startWriting} took. */
  stopWriting(): void {
    this.lock.unlock();
  }

  /** Runs `fn` with the shared lock held. */
  async read<R>(fn: () => R | Promise<R>): Promise<R> {
    await this.startReading();
    try {
      return await fn();
    } finally {
      this.stopReading();
    }
  }

  /** Runs `fn` with the exclusive lock held. */
  async write<R>(fn: () => R | Promise<R>): Promise<R> {
    await this.startWriting();
    try {
      return await fn();
    } finally {
      this.stopWriting();
    }
  }

  /** Reloads when another process changed the files since we last looked. */
  protected reloadIfChanged(): LoadOutcome {
    const { modified, current } = this.lastWrite === undefined
      ? { modified: true, current: this.lock.getLastWrite() }
      : this.lock.modifiedSince(this.lastWrite);
    if (!modified && this.loaded && !this.changedBesidesToken()) {
      return { needsSave: false, needsRepair: false };
    }
    const outcome = this.loadLocked();
    this.lastWrite = current;
    return outcome;
  }

  /** Reads every file and rebuilds the indexes. Throws without changing anything on bad files. */
  protected loadLocked(): LoadOutcome {
    const records: T[] = [];
    const seen = new Set<string>();
    for (const loc of this.locations()) {
      const raws = readRecordArray(loc.path);
      raws.forEach((raw, i) => {
        const record = this.decode(raw, loc.path, i);
        const problem = idProblem(record.id);
        if (problem !== undefined) throw new CorruptStoreError(loc.path, `record ${i}: ${problem}`);
        if (seen.has(record.id)) return; // first file wins, as upstream
        seen.add(record.id);
        record.volatile = loc.volatile;
        records.push(record);
      });
    }
    // A name claimed twice stays with the later record (records.md §2.2).
    const byName = new Map<string, T>();
    let needsSave = false;
    for (const record of records) {
      for (const name of record.names) {
        const earlier = byName.get(name);
        if (earlier !== undefined && earlier !== record) {
          if (this.readOnly) {
            throw new CorruptStoreError(
              this.locations()[0].path,
              `read-only ${this.kind} store assigns the same name to multiple ${this.kind}s`,
            );
          }
          earlier.names = earlier.names.filter((n) => n !== name);
          needsSave = true;
        }
        byName.set(name, record);
      }
    }
    this.records = records;
    this.reindex();
    this.loaded = true;
    this.rememberFiles();
    const outcome = this.afterLoad();
    return { needsSave: needsSave || outcome.needsSave, needsRepair: outcome.needsRepair };
  }

  /** Rebuilds the ID and name indexes from `records`. */
  protected reindex(): void {
    this.byID = new Map(this.records.map((r) => [r.id, r]));
    this.byName = new Map();
    for (const r of this.records) for (const n of r.names) this.byName.set(n, r);
  }

  /** Writes the files at `locations` (each holds only its own records) and records a new token. */
  protected saveLocked(locations: RecordLocation[]): void {
    if (this.readOnly) throw new StorageError("read-only-store", this.locations()[0]?.path);
    for (const loc of locations) {
      const mine = this.records.filter((r) => (r.volatile ?? false) === loc.volatile);
      Deno.mkdirSync(dirname(loc.path), { recursive: true, mode: 0o700 });
      const text = goJSON(mine.map((r) => this.encode(r)));
      writeFileAtomic(loc.path, text, { noSync: loc.volatile });
    }
    this.lastWrite = this.lock.recordWrite();
    this.rememberFiles();
  }

  /** Saves the file(s) holding these records. */
  protected saveRecordsLocked(records: T[]): void {
    const wanted = new Set(records.map((r) => r.volatile ?? false));
    this.saveLocked(this.locations().filter((l) => wanted.has(l.volatile)));
  }

  /** Copies of all records, in store order (lock held). */
  list(): T[] {
    return this.records.map((r) => this.copy(r));
  }

  /** The live record (not a copy) for an ID, name or unique prefix. Internal use. */
  find(key: string): T | undefined {
    return this.lookupLocked(key);
  }

  /** A copy of the record for an ID, name or unique prefix. */
  get(key: string): T | undefined {
    const record = this.lookupLocked(key);
    return record === undefined ? undefined : this.copy(record);
  }

  /** Exact ID, exact name, then `extraLookup`, then unique ID prefix. */
  protected lookupLocked(key: string): T | undefined {
    const byID = this.byID.get(key);
    if (byID !== undefined) return byID;
    const byName = this.byName.get(key);
    if (byName !== undefined) return byName;
    const extra = this.extraLookupLocked(key);
    if (extra !== undefined) return extra;
    if (key === "") return undefined;
    let found: T | undefined;
    for (const r of this.records) {
      if (r.id.startsWith(key) && !r.id.includes(" ")) {
        if (found !== undefined) return undefined; // ambiguous
        found = r;
      }
    }
    return found;
  }

  /** Kind-specific lookups between names and prefixes (containers: their layer ID). */
  protected extraLookupLocked(_key: string): T | undefined {
    return undefined;
  }

  /** Appends a record and indexes it. */
  protected addLocked(record: T): void {
    this.records.push(record);
    this.byID.set(record.id, record);
    for (const n of record.names) this.byName.set(n, record);
  }

  /** Drops a record from memory. */
  protected removeLocked(record: T): void {
    this.records = this.records.filter((r) => r !== record);
    this.byID.delete(record.id);
    for (const n of record.names) if (this.byName.get(n) === record) this.byName.delete(n);
  }

  /**
   * Replaces a record's names (deduplicated), taking each name away from any
   * other record that had it; returns the other records that changed.
   */
  protected setNamesLocked(record: T, names: string[]): T[] {
    const unique = [...new Set(names)];
    const changed: T[] = [];
    for (const n of unique) {
      const other = this.byName.get(n);
      if (other !== undefined && other !== record) {
        other.names = other.names.filter((x) => x !== n);
        changed.push(other);
      }
    }
    for (const n of record.names) if (this.byName.get(n) === record) this.byName.delete(n);
    record.names = unique;
    for (const n of unique) this.byName.set(n, record);
    return changed;
  }

  /** The record that already uses one of `names`, if any. */
  protected nameOwnerLocked(names: string[]): { name: string; owner: T } | undefined {
    for (const name of names) {
      const owner = this.byName.get(name);
      if (owner !== undefined) return { name, owner };
    }
    return undefined;
  }
}
