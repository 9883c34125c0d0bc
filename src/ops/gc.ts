/**
 * Garbage collection (layers-and-diffs.md §9.4, with vfs listing its real
 * layer directory as later upstream versions do): removes what no record
 * names. A store in transient mode needs it after a reboot, when the run
 * root (and with it every container record and container layer record) is
 * gone but their directories under the graph root are not.
 *
 * Every removal happens under the exclusive lock of the store whose records
 * name (or would name) the thing removed, and is decided from the records
 * loaded under that same hold: a layer or container another process is
 * committing cannot be taken for garbage, because cstor and Go both commit
 * a directory and its record under one exclusive hold (Go even writes the
 * record first).
 *
 * @module
 */

import { join } from "../path.ts";
import { isNotFound } from "../errors.ts";
import { idProblem, isFullID } from "../ids.ts";
import type { StoreCore } from "../store_core.ts";

/**
 * What a garbage collection removed, by kind.
 *
 * @example
 * ```ts
 * import { openStore } from "@cstor/storage";
 * const store = await openStore({ graphRoot: "/tmp/g", runRoot: "/tmp/r", driver: "vfs" });
 * const removed = await store.garbageCollect();
 * console.log(removed.containerDirs.length, removed.layers.length);
 * ```
 */
export interface GarbageCollected {
  /** Container directories (graph root and run root) with no container record. */
  containerDirs: string[];
  /** Layer IDs whose driver directory, tar-split or big-data directory had no layer record. */
  layers: string[];
}

/**
 * Removes container directories and driver layer directories that no record
 * names, their tar-split files and layer big-data directories, and staging
 * directories left by killed processes. Both steps run even when the first
 * fails; the first error is thrown at the end.
 */
export async function garbageCollect(core: StoreCore): Promise<GarbageCollected> {
  const result: GarbageCollected = { containerDirs: [], layers: [] };
  const errors: unknown[] = [];
  try {
    result.containerDirs = await collectContainerDirs(core);
  } catch (err) {
    errors.push(err);
  }
  try {
    result.layers = await collectLayers(core);
  } catch (err) {
    errors.push(err);
  }
  if (errors.length > 0) throw errors[0];
  return result;
}

/** Container directories: only 64-hex names, as upstream, so nothing else in those roots is touched. */
async function collectContainerDirs(core: StoreCore): Promise<string[]> {
  return await core.withLocks({ containers: "w" }, async () => {
    const known = new Set(core.containers.list().map((c) => c.id));
    const removed: string[] = [];
    const { dir, runDir } = core.containers.paths;
    for (const root of new Set([dir, runDir])) {
      for (const name of await subdirectories(root)) {
        if (!isFullID(name) || known.has(name)) continue;
        await removeTree(join(root, name));
        removed.push(join(root, name));
      }
    }
    return removed;
  });
}

/** Layer state of the primary store with no record: driver directories, tar-split, big data. */
async function collectLayers(core: StoreCore): Promise<string[]> {
  return await core.withLocks({ layers: "w" }, async () => {
    const store = core.layers;
    const known = new Set(store.list().map((l) => l.id));
    const orphans = new Set<string>();
    for (const id of await core.driver.layerIDs()) {
      if (!known.has(id)) orphans.add(id);
    }
    // A kill between committing a layer's tar-split and its record, or a
    // hand-deleted record, leaves these without a driver directory too.
    for (const entry of await entries(store.paths.layersDir)) {
      const id = entry.isDirectory
        ? entry.name
        : entry.isFile && entry.name.endsWith(".tar-split.gz")
        ? entry.name.slice(0, -".tar-split.gz".length)
        : undefined;
      if (id !== undefined && !known.has(id)) orphans.add(id);
    }
    const removed: string[] = [];
    for (const id of orphans) {
      // Names come from directory listings; still, only a name that is a
      // valid ID may become part of a path that is removed.
      if (idProblem(id) !== undefined) continue;
      await core.driver.remove(id);
      await removeTree(store.tarSplitPath(id));
      await removeTree(store.bigDataDir(id));
      removed.push(id);
    }
    // Staging directories are locked by their live owners, so only dead
    // ones go; under the layer lock, because loading the layer store (done
    // above) first finishes any applydiff a dead owner was committing from
    // one (APPLYING_FLAG).
    await core.driver.removeStaleStaging();
    return removed.sort();
  });
}

async function entries(dir: string): Promise<Deno.DirEntry[]> {
  try {
    return await Array.fromAsync(Deno.readDir(dir));
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
}

async function subdirectories(dir: string): Promise<string[]> {
  return (await entries(dir)).filter((e) => e.isDirectory).map((e) => e.name);
}

async function removeTree(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}
