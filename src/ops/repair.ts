/**
 * Repair after a check (as upstream's `Repair`): removes what is damaged
 * and what depends on it, and nothing else. Containers are removed only
 * when asked (`removeContainers`); additional (read-only) stores are never
 * touched.
 *
 * Each removal goes through the store's own delete operations (with their
 * locks and safety checks) or, for leftovers no record names, re-checks
 * under the owning store's exclusive lock that still no record names them:
 * another process may have committed something since the check ran.
 *
 * @module
 */

import { errorMessage, isNotFound, isStorageError } from "../errors.ts";
import { checkID, idProblem } from "../ids.ts";
import { goJSON } from "../go_json.ts";
import { readRecordArray, writeFileAtomic } from "../record_file.ts";
import type { LockFile } from "../lock/lockfile.ts";
import type { StoreCore } from "../store_core.ts";
import { deleteContainer, deleteImage, deleteLayer } from "./delete.ts";
import type { CheckProblem, CheckReport } from "./check_report.ts";
import { join } from "../path.ts";

/**
 * Options for {@link repair}.
 *
 * @example
 * ```ts
 * import { openStore } from "@cstor/storage";
 * const store = await openStore({ graphRoot: "/tmp/g", runRoot: "/tmp/r", driver: "vfs" });
 * await store.repair(await store.check(), { removeContainers: true });
 * ```
 */
export interface RepairOptions {
  /** Also delete damaged containers (the `--force` flag). */
  removeContainers?: boolean;
}

/**
 * What {@link repair} could not do.
 *
 * @example
 * ```ts
 * import { openStore } from "@cstor/storage";
 * const store = await openStore({ graphRoot: "/tmp/g", runRoot: "/tmp/r", driver: "vfs" });
 * const { errors, remaining } = await store.repair(await store.check());
 * console.log(errors, remaining.length);
 * ```
 */
export interface RepairResult {
  /** Removals that failed, as `deleting layer <id>: <why>`. */
  errors: string[];
  /** Problems repair leaves alone: read-only objects, and containers unless asked. */
  remaining: CheckProblem[];
}

/** Repairs what `report` found; see the module documentation. */
export async function repair(
  core: StoreCore,
  report: CheckReport,
  options: RepairOptions = {},
): Promise<RepairResult> {
  const errors: string[] = [];
  const remaining: CheckProblem[] = [];
  const ids = (kind: CheckProblem["kind"], remedy: CheckProblem["remedy"]) => [
    ...new Set(
      report.problems.filter((p) => p.kind === kind && p.remedy === remedy && !p.readOnly)
        .map((p) => p.id),
    ),
  ];
  for (const p of report.problems) {
    if (
      p.readOnly || (p.kind === "container" && p.remedy === "delete" && !options.removeContainers)
    ) {
      remaining.push(p);
    }
  }
  const attempt = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (err) {
      if (!isGone(err)) errors.push(`${what}: ${errorMessage(err)}`);
    }
  };

  if (options.removeContainers) {
    for (const id of ids("container", "delete")) {
      await attempt(`deleting container ${id}`, () => deleteContainer(core, id));
    }
  }
  const deleted = new Set<string>();
  for (const id of ids("image", "delete")) {
    await attempt(`deleting image ${id}`, async () => {
      for (const layer of await deleteImage(core, id, true)) deleted.add(layer);
    });
  }
  for (const id of byDepth(ids("layer", "delete"), report.layerParents)) {
    if (deleted.has(id)) continue;
    // What is built on a damaged layer goes with it, children first.
    for (const layer of await descendantsFirst(core, id)) {
      if (deleted.has(layer)) continue;
      // Deleting unmounts first, as every layer deletion does.
      await attempt(`deleting layer ${layer}`, async () => {
        await deleteLayer(core, layer);
        deleted.add(layer);
      });
    }
  }
  for (const id of ids("layer", "driver-remove")) {
    await attempt(`deleting storage layer ${id}`, () => removeUnaccounted(core, id));
  }
  for (const p of report.problems.filter((p) => p.remedy === "remove-path" && !p.readOnly)) {
    await attempt(`removing ${p.path}`, () => removeLeftover(core, p));
  }
  const mounts = ids("layer", "reset-mount");
  if (mounts.length > 0) await attempt("resetting mount counts", () => resetMounts(core, mounts));
  // Under the layer lock: loading the layer store first finishes any
  // applydiff a dead process was committing from its staging directory.
  await attempt(
    "removing stale staging directories",
    () => core.withLocks({ layers: "w" }, () => core.driver.removeStaleStaging()),
  );
  return { errors, remaining };
}

/** Errors that mean someone else already removed the object. */
function isGone(err: unknown): boolean {
  return isStorageError(err, "layer-unknown") || isStorageError(err, "not-a-layer") ||
    isStorageError(err, "image-unknown") || isStorageError(err, "not-an-image") ||
    isStorageError(err, "container-unknown") || isStorageError(err, "not-a-container") ||
    isNotFound(err);
}

/** Layers farther from a base layer first, so children go before their parents. */
function byDepth(ids: string[], parents: Map<string, string>): string[] {
  const depth = (id: string) => {
    let d = 0;
    const seen = new Set<string>();
    for (let p = parents.get(id) ?? ""; p !== "" && !seen.has(p); p = parents.get(p) ?? "") {
      seen.add(p);
      d++;
    }
    return d;
  };
  return ids.map((id) => ({ id, d: depth(id) })).sort((a, b) => b.d - a.d).map((x) => x.id);
}

/** `id` and every layer built on it, children before parents. */
async function descendantsFirst(core: StoreCore, id: string): Promise<string[]> {
  const layers = await core.withLocks({ layers: "r" }, () => core.layers.list());
  const children = new Map<string, string[]>();
  for (const l of layers) {
    if (l.parent !== "") children.set(l.parent, [...(children.get(l.parent) ?? []), l.id]);
  }
  const out: string[] = [];
  const seen = new Set<string>();
  const visit = (x: string) => {
    if (seen.has(x)) return;
    seen.add(x);
    for (const c of children.get(x) ?? []) visit(c);
    out.push(x);
  };
  visit(id);
  return out;
}

async function removeUnaccounted(core: StoreCore, id: string): Promise<void> {
  await core.withLocks({ layers: "w" }, async () => {
    if (core.layers.find(id)?.id === id) return; // committed since the check
    checkID(id);
    await core.driver.remove(id);
    await removePath(core.layers.tarSplitPath(id));
    await removePath(core.layers.bigDataDir(id));
  });
}

async function removeLeftover(core: StoreCore, p: CheckProblem): Promise<void> {
  if (p.path === undefined) return;
  const path = p.path;
  if (p.kind === "layer") {
    await core.withLocks({ layers: "w" }, async () => {
      if (core.layers.find(p.id)?.id !== p.id) await removePath(path);
    });
  } else if (p.kind === "image") {
    await core.withLocks({ images: "w" }, async () => {
      if (core.images.find(p.id)?.id !== p.id) await removePath(path);
    });
  } else {
    await core.withLocks({ containers: "w" }, async () => {
      if (core.containers.find(p.id)?.id !== p.id) await removePath(path);
    });
  }
}

/** Drops mount counts of unknown layers, and counts no mount backs. */
async function resetMounts(core: StoreCore, ids: string[]): Promise<void> {
  await core.withLocks({ layers: "w" }, async () => {
    const table = core.layers.mounts;
    if (table === undefined) return;
    await table.lock.lock();
    try {
      // Loading keeps only known layers, so saving drops the unknown ones.
      table.load((id) => core.layers.find(id)?.id === id);
      for (const id of ids) {
        const entry = table.get(id);
        if (entry.count > 0 && !(await core.driver.isMounted(id, entry.path))) table.delete(id);
      }
      table.save(core.layers.list().map((l) => l.id));
    } finally {
      table.lock.unlock();
    }
  });
}

async function removePath(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/**
 * A record file from which records with unusable IDs were dropped.
 *
 * @example
 * ```ts
 * import { openStore } from "@cstor/storage";
 * const store = await openStore({ graphRoot: "/tmp/g", runRoot: "/tmp/r", driver: "vfs" });
 * for (const fixed of await store.repairRecordFiles()) console.log(fixed.path, fixed.backup, fixed.dropped);
 * ```
 */
export interface RecordFileRepair {
  /** The file. */
  path: string;
  /** Where its previous content was kept. */
  backup: string;
  /** Why each dropped record was dropped. */
  dropped: string[];
}

/**
 * Drops records whose ID cannot be used (empty, `.`/`..`, containing `/`
 * or NUL): such a file makes the store refuse to load. Nothing else is
 * changed, and nothing is lost: each rewritten file's previous content is
 * kept beside it as `<file>.bad-<time>`. A file that is not valid JSON
 * cannot be repaired this way; the error says which and why.
 */
export async function repairRecordFiles(core: StoreCore): Promise<RecordFileRepair[]> {
  const layers = core.layers;
  const c = core.containers.paths;
  const groups: Array<{ lock: LockFile; files: string[] }> = [
    {
      lock: layers.lock,
      files: [
        join(layers.paths.layersDir, "layers.json"),
        join(layers.paths.volatileDir, "volatile-layers.json"),
      ],
    },
    { lock: core.images.lock, files: [join(core.images.dir, "images.json")] },
    {
      lock: core.containers.lock,
      files: [join(c.dir, "containers.json"), join(c.volatileDir, "volatile-containers.json")],
    },
  ];
  const done: RecordFileRepair[] = [];
  for (const group of groups) {
    await group.lock.lock();
    try {
      let changed = false;
      for (const path of group.files) {
        const raws = readRecordArray(path);
        const dropped: string[] = [];
        const kept = raws.filter((raw, i) => {
          const problem = idProblem(raw["id"]);
          if (problem !== undefined) dropped.push(`record ${i}: ${problem}`);
          return problem === undefined;
        });
        if (dropped.length === 0) continue;
        const backup = `${path}.bad-${Date.now()}`;
        writeFileAtomic(backup, await Deno.readFile(path));
        writeFileAtomic(path, goJSON(kept));
        done.push({ path, backup, dropped });
        changed = true;
      }
      // Every process holding this store open reloads on the new token.
      if (changed) group.lock.recordWrite();
    } finally {
      group.lock.unlock();
    }
  }
  return done;
}
