/**
 * Mount reference counts in `RR/<driver>-layers/mountpoints.json`
 * (records.md §4), shared with Go processes and guarded by
 * `mountpoints.lock` (always taken inside the layer store's lock).
 *
 * @module
 */

import { join } from "./path.ts";
import { CorruptStoreError } from "./errors.ts";
import { goJSON } from "./go_json.ts";
import { getLockFile, type LockFile } from "./lock/lockfile.ts";
import { readRecordArray, writeFileAtomic } from "./record_file.ts";

/** One layer's mount state. */
export interface MountEntry {
  path: string;
  count: number;
}

/** The mount table of one layer store. */
export class MountTable {
  readonly path: string;
  readonly lock: LockFile;
  // Guarded by `lock` for changes; readers may read it without the lock
  // because the file is replaced atomically and the token written after it.
  #entries = new Map<string, MountEntry>();
  #token = "";

  constructor(runLayersDir: string) {
    this.path = join(runLayersDir, "mountpoints.json");
    this.lock = getLockFile(join(runLayersDir, "mountpoints.lock"));
  }

  /** True when the lock file's token differs from the one of the last load. */
  changed(): boolean {
    return peekToken(this.lock.path) !== this.#token;
  }

  /**
   * Reloads the table. The token is read before the file, so a write racing
   * with us makes the next check reload again instead of being missed.
   */
  load(knownIDs: (id: string) => boolean): void {
    const token = peekToken(this.lock.path);
    const entries = new Map<string, MountEntry>();
    readRecordArray(this.path).forEach((raw, i) => {
      const id = raw["id"];
      const path = raw["path"];
      const count = raw["count"];
      if (typeof id !== "string" || typeof path !== "string" || !Number.isInteger(count)) {
        throw new CorruptStoreError(this.path, `record ${i} is not {"id","path","count"}`);
      }
      if (path === "" || !knownIDs(id)) return;
      entries.set(id, { path, count: count as number });
    });
    this.#entries = entries;
    this.#token = token;
  }

  /** The entry of a layer (count 0 and empty path when not mounted). */
  get(id: string): MountEntry {
    return this.#entries.get(id) ?? { path: "", count: 0 };
  }

  /** The layer whose recorded mount point is `path`, if any. */
  byPath(path: string): string | undefined {
    for (const [id, e] of this.#entries) if (e.path === path) return id;
    return undefined;
  }

  /** Sets a layer's entry (in memory). */
  set(id: string, entry: MountEntry): void {
    this.#entries.set(id, entry);
  }

  /** Forgets a layer. */
  delete(id: string): void {
    this.#entries.delete(id);
  }

  /** IDs with a positive count. */
  mountedIDs(): string[] {
    return [...this.#entries].filter(([, e]) => e.count > 0).map(([id]) => id);
  }

  /**
   * Writes entries with a positive count and a path, in `order`, then a new
   * token. Caller holds `lock` exclusively.
   */
  save(order: readonly string[]): void {
    const out: Array<{ id: string; path: string; count: number }> = [];
    for (const id of order) {
      const e = this.#entries.get(id);
      if (e !== undefined && e.count > 0 && e.path !== "") {
        out.push({ id, path: e.path, count: e.count });
      }
    }
    for (const [id, e] of this.#entries) if (e.count <= 0) this.#entries.delete(id);
    writeFileAtomic(this.path, goJSON(out));
    this.#token = tokenString(this.lock.recordWrite());
  }
}

/** The current token of a lock file, read without holding it (as text for comparison). */
export function peekToken(path: string): string {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch {
    return "";
  }
  try {
    const buf = new Uint8Array(64);
    let n = 0;
    while (n < 64) {
      const r = file.readSync(buf.subarray(n));
      if (r === null || r === 0) break;
      n += r;
    }
    return tokenString(buf.subarray(0, n));
  } finally {
    file.close();
  }
}

function tokenString(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
