/**
 * Consistency check of a whole store (as upstream's `Check` since v1.47,
 * layers-and-diffs.md §10): every record is compared with what is on disk
 * and with the records it names. The result says what is wrong and, for
 * each problem, how {@link repair} (src/ops/repair.ts) deals with it.
 *
 * The check holds the three record stores' shared locks for its whole run,
 * so it sees one consistent state: writers wait, readers do not.
 *
 * @module
 */

import { join } from "node:path";
import { isNotFound } from "../errors.ts";
import { bigDataFileName, isFullID } from "../ids.ts";
import type { StoreCore } from "../store_core.ts";
import type { Layer } from "../records/layer_record.ts";
import type { Image } from "../records/image_record.ts";
import type { ImageStore } from "../images.ts";
import type { Container } from "../records/container_record.ts";
import type { TarHeader } from "../archive/tar_types.ts";
import { checkLayerFiles, checkMountCounts, checkUnaccounted } from "./check_layers.ts";
import { compareTree, expectedTree } from "./check_tree.ts";
import {
  type CheckReport,
  groupByObject,
  layerProblem,
  PROBLEM_TEXT,
  ProblemList,
} from "./check_report.ts";

export type { CheckProblem, CheckReport, Remedy } from "./check_report.ts";
export { reportGroups } from "./check_report.ts";

/**
 * Options for {@link check}.
 *
 * @example
 * ```ts
 * import { openStore } from "@cstor/storage";
 * const store = await openStore({ graphRoot: "/tmp/g", runRoot: "/tmp/r", driver: "vfs" });
 * const report = await store.check({ quick: true, maxUnreferencedAge: 60 * 60 * 1000 });
 * console.log(report.problems.length);
 * ```
 */
export interface CheckOptions {
  /**
   * Skip the slow checks: regenerating each layer's diff to compare it
   * with its recorded `diff-digest`, and comparing layer trees with their
   * diffs. Files, records and references are still checked.
   */
  quick?: boolean;
  /**
   * Layers no image or container uses are reported once they are older
   * than this many milliseconds (24 hours by default); younger ones may
   * belong to an image being pulled right now.
   */
  maxUnreferencedAge?: number;
}

/** Default of {@link CheckOptions.maxUnreferencedAge}: 24 hours. */
export const DEFAULT_MAX_UNREFERENCED_AGE = 24 * 60 * 60 * 1000;

/** Checks the whole store; see the module documentation. */
export async function check(core: StoreCore, options: CheckOptions = {}): Promise<CheckReport> {
  const maxAge = options.maxUnreferencedAge ?? DEFAULT_MAX_UNREFERENCED_AGE;
  return await core.withLocks({ layers: "r", images: "r", containers: "r" }, async () => {
    const list = new ProblemList();
    const parents = new Map<string, string>();
    const diffs = new Map<string, TarHeader[]>();
    // Layers: primary store first; a layer an additional store also has is
    // checked once, in the first store that has it (the one lookups use).
    for (const store of core.allLayerStores()) {
      for (const layer of store.list()) {
        if (parents.has(layer.id)) continue;
        parents.set(layer.id, layer.parent);
        const headers = await checkLayerFiles(core, store, layer, list, options.quick ?? false);
        if (headers !== undefined) diffs.set(layer.id, headers);
      }
    }
    if (!options.quick) await checkTrees(core, parents, diffs, list);
    for (const store of core.allLayerStores()) {
      for (const layer of store.list()) {
        if (layer.parent !== "" && !parents.has(layer.parent)) {
          list.add(layerProblem(layer, `layer ${layer.parent}: ${PROBLEM_TEXT.layerMissing}`));
        }
      }
    }
    const referenced = new Set<string>();
    const checkedImages = new Set<string>();
    for (const store of core.allImageStores()) {
      for (const image of store.list()) {
        if (checkedImages.has(image.id)) continue;
        checkedImages.add(image.id);
        await checkImage(store, image, parents, referenced, list);
      }
    }
    for (const c of core.containers.list()) {
      await checkContainer(core, c, parents, checkedImages, referenced, list);
    }
    checkUnreferenced(core.layers.list(), referenced, maxAge, list);
    await checkUnaccounted(core, list);
    await checkMountCounts(core, list);
    await checkOrphanDirs(core, list);
    return { problems: groupByObject(list.all), layerParents: parents };
  });
}

/**
 * Compares each layer's tree with what its diffs and its parents' diffs
 * say it holds. Only for layers whose whole chain was regenerated
 * successfully (the others are already reported, or are container layers
 * whose contents nobody recorded), and only for vfs: its trees are plain
 * directories, while other drivers would need a real mount, which could
 * disturb a container using the same layer.
 */
async function checkTrees(
  core: StoreCore,
  parents: Map<string, string>,
  diffs: Map<string, TarHeader[]>,
  list: ProblemList,
): Promise<void> {
  if (core.driver.name !== "vfs") return;
  const ignoreOwners = core.driver.options.some((o) => o.includes("ignore_chown_errors"));
  for (const layer of core.layers.list()) {
    const chain: TarHeader[][] = [];
    for (let id = layer.id; id !== ""; id = parents.get(id) ?? "") {
      const headers = diffs.get(id);
      if (headers === undefined) break;
      chain.unshift(headers);
      if ((parents.get(id) ?? "") === "") {
        const root = await core.driver.mount(core.layers.ref(layer), {
          mountLabel: "",
          options: ["ro"],
        });
        const found = await compareTree(root, expectedTree(chain), {
          uidMap: layer.uidMap,
          gidMap: layer.gidMap,
          ignoreOwners,
        });
        for (const line of found.slice(0, MAX_TREE_LINES)) {
          list.add(layerProblem(layer, `${line}, ${PROBLEM_TEXT.layerModified}`));
        }
        if (found.length > MAX_TREE_LINES) {
          const more = found.length - MAX_TREE_LINES;
          list.add(layerProblem(layer, `${more} more differences, ${PROBLEM_TEXT.layerModified}`));
        }
      }
    }
  }
}

/** A damaged tree can differ in every file; the first differences say enough. */
const MAX_TREE_LINES = 20;

async function checkImage(
  store: ImageStore,
  image: Image,
  parents: Map<string, string>,
  referenced: Set<string>,
  list: ProblemList,
): Promise<void> {
  const prefix = `${image.readOnly ? "read-only " : ""}image ${image.id}`;
  const add = (text: string) =>
    list.add({
      kind: "image",
      id: image.id,
      readOnly: image.readOnly,
      message: `${prefix}: ${text}`,
      remedy: "delete",
    });
  for (const key of image.bigDataNames) {
    const problem = await dataItemProblem(store.dataDir(image.id), key, image.bigDataSizes[key]);
    if (problem === "missing") {
      add(`data item ${JSON.stringify(key)}: ${PROBLEM_TEXT.imageDataMissing}`);
    } else if (problem === "size") {
      add(`data item ${JSON.stringify(key)}: ${PROBLEM_TEXT.imageDataSize}`);
    } else if (problem !== undefined) add(`data item ${JSON.stringify(key)}: ${problem}`);
  }
  const walked = new Set<string>();
  for (const top of [image.topLayer, ...image.mappedTopLayers]) {
    for (let id = top; id !== "" && !walked.has(id); id = parents.get(id) ?? "") {
      walked.add(id);
      if (!parents.has(id)) {
        add(`layer ${id}: ${PROBLEM_TEXT.imageLayerMissing}`);
        break;
      }
      referenced.add(id);
      for (const p of list.damage("layer", id)) add(p.message);
    }
  }
}

async function checkContainer(
  core: StoreCore,
  c: Container,
  parents: Map<string, string>,
  checkedImages: Set<string>,
  referenced: Set<string>,
  list: ProblemList,
): Promise<void> {
  const add = (text: string) =>
    list.add({
      kind: "container",
      id: c.id,
      readOnly: false,
      message: `container ${c.id}: ${text}`,
      remedy: "delete",
    });
  for (const key of c.bigDataNames) {
    const dir = core.containers.dataDir(c.id);
    const problem = await dataItemProblem(dir, key, c.bigDataSizes[key]);
    const item = `data item ${JSON.stringify(key)}`;
    if (problem === "missing") add(`${item}: ${PROBLEM_TEXT.containerDataMissing}`);
    else if (problem === "size") add(`${item}: ${PROBLEM_TEXT.containerDataSize}`);
    else if (problem !== undefined) add(`${item}: ${problem}`);
  }
  if (c.imageID !== "") {
    if (!checkedImages.has(c.imageID)) {
      add(`image ${c.imageID}: ${PROBLEM_TEXT.containerImageMissing}`);
    }
    for (const p of list.damage("image", c.imageID)) add(p.message);
  }
  // Upstream only notes the container's layer as used; a container whose
  // layer is gone cannot be mounted, so cstor reports that too.
  if (c.layerID !== "") {
    if (!parents.has(c.layerID)) {
      add(`layer ${c.layerID}: ${PROBLEM_TEXT.layerMissing}`);
    } else {
      for (let id = c.layerID; id !== "" && parents.has(id); id = parents.get(id) ?? "") {
        if (referenced.has(id)) break;
        referenced.add(id);
      }
      for (const p of list.damage("layer", c.layerID)) add(p.message);
    }
  }
}

function checkUnreferenced(
  layers: Layer[],
  referenced: Set<string>,
  maxAge: number,
  list: ProblemList,
): void {
  const now = Date.now();
  for (const layer of layers) {
    if (referenced.has(layer.id)) continue;
    const created = Date.parse(layer.created);
    const unknown = Number.isNaN(created) || layer.created.startsWith("0001-01-01T00:00:00");
    if (unknown || created + maxAge < now) {
      list.add(layerProblem(layer, PROBLEM_TEXT.layerUnreferenced));
    }
  }
}

/**
 * Why a big-data item is not as recorded: `"missing"`, `"size"` (its length
 * differs from `size`, when a size is recorded), another error's text, or
 * undefined when it is fine.
 */
async function dataItemProblem(
  dir: string,
  key: string,
  size: number | undefined,
): Promise<"missing" | "size" | string | undefined> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(join(dir, bigDataFileName(key)));
  } catch (err) {
    if (isNotFound(err)) return "missing";
    return (err as Error).message;
  }
  if (!info.isFile) return "missing";
  if (size !== undefined && info.size !== size) return "size";
  return undefined;
}

/**
 * Directories of images and containers that no record names (left by a
 * hand-edited file or a tool that crashed mid-delete).
 */
async function checkOrphanDirs(core: StoreCore, list: ProblemList): Promise<void> {
  const images = new Set(core.images.list().map((i) => i.id));
  for (const name of await subdirectories(core.images.dir)) {
    if (images.has(name)) continue;
    const path = join(core.images.dir, name);
    list.add({
      kind: "image",
      id: name,
      readOnly: false,
      message: `image ${name}: data directory ${path} belongs to no image`,
      remedy: "remove-path",
      path,
    });
  }
  const containers = new Set(core.containers.list().map((c) => c.id));
  const { dir, runDir } = core.containers.paths;
  for (const root of new Set([dir, runDir])) {
    for (const name of await subdirectories(root)) {
      // As garbage collection: only names the library would have made.
      if (containers.has(name) || !isFullID(name)) continue;
      const path = join(root, name);
      list.add({
        kind: "container",
        id: name,
        readOnly: false,
        message: `container ${name}: directory ${path} belongs to no container`,
        remedy: "remove-path",
        path,
      });
    }
  }
}

/** Names of the subdirectories of `dir` (none when it does not exist). */
export async function subdirectories(dir: string): Promise<string[]> {
  try {
    const out: string[] = [];
    for await (const e of Deno.readDir(dir)) if (e.isDirectory) out.push(e.name);
    return out.sort();
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
}
