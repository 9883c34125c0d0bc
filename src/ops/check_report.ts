/**
 * What a consistency check reports: problems, how repair deals with each,
 * upstream's wording, and the grouping its CLI prints.
 *
 * @module
 */

import type { Layer } from "../records/layer_record.ts";

/**
 * How a problem is dealt with by repair.
 *
 * @example
 * ```ts
 * import type { Remedy } from "@cstor/storage";
 * const remedy: Remedy = "reset-mount";
 * console.log(remedy);
 * ```
 */
export type Remedy =
  /** Delete the object (and, for layers, what is built on it). */
  | "delete"
  /** Remove a driver directory no record names. */
  | "driver-remove"
  /** Remove a file or directory (`path`) no record names. */
  | "remove-path"
  /** Drop a mount count that no mount backs. */
  | "reset-mount";

/**
 * One problem found by {@link check}.
 *
 * @example
 * ```ts
 * import { openStore } from "@cstor/storage";
 * const store = await openStore({ graphRoot: "/tmp/g", runRoot: "/tmp/r", driver: "vfs" });
 * for (const p of (await store.check()).problems) console.log(p.kind, p.id, p.message, p.remedy);
 * ```
 */
export interface CheckProblem {
  /** What kind of object is damaged. */
  kind: "layer" | "image" | "container";
  /** The object's ID (or, for leftovers, the ID their name claims). */
  id: string;
  /** True for objects of additional (read-only) stores: never repaired. */
  readOnly: boolean;
  /** What is wrong, in upstream's wording (`layer <id>: <problem>`). */
  message: string;
  /** What repair does about it. */
  remedy: Remedy;
  /** For `remove-path`: the directory. */
  path?: string;
}

/**
 * What {@link check} found.
 *
 * @example
 * ```ts
 * import { openStore } from "@cstor/storage";
 * const store = await openStore({ graphRoot: "/tmp/g", runRoot: "/tmp/r", driver: "vfs" });
 * const report = await store.check();
 * if (report.problems.length > 0) await store.repair(report);
 * ```
 */
export interface CheckReport {
  /** Every problem, grouped by object in the order the objects were checked. */
  problems: CheckProblem[];
  /** Parent of every layer seen, by layer ID (repair removes children before parents). */
  layerParents: Map<string, string>;
}

/** Upstream's wording of each kind of damage. */
export const PROBLEM_TEXT = {
  layerUnaccounted: "layer in lower level storage driver not accounted for",
  layerUnreferenced: "layer not referenced by any images or containers",
  layerDigest: "layer content incorrect digest",
  layerSize: "layer content incorrect size",
  layerModified: "layer content modified",
  layerDataMissing: "layer data item is missing",
  layerMissing: "layer is missing",
  imageLayerMissing: "image layer is missing",
  imageDataMissing: "image data item is missing",
  imageDataSize: "image data item has incorrect size",
  containerImageMissing: "image missing",
  containerDataMissing: "container data item is missing",
  containerDataSize: "container data item has incorrect size",
} as const;

/** Collects problems; keeps the per-object lists repair and the report need. */
export class ProblemList {
  readonly all: CheckProblem[] = [];

  /** Adds a problem. */
  add(problem: CheckProblem): void {
    this.all.push(problem);
  }

  /** The problems of one object that make it (and whatever uses it) damaged. */
  damage(kind: CheckProblem["kind"], id: string): CheckProblem[] {
    return this.all.filter((p) => p.kind === kind && p.id === id && p.remedy === "delete");
  }
}

/** A problem of a layer, with upstream's prefix. */
export function layerProblem(layer: Layer, text: string, remedy: Remedy = "delete"): CheckProblem {
  const ro = layer.readOnly ? "read-only " : "";
  return {
    kind: "layer",
    id: layer.id,
    readOnly: layer.readOnly,
    message: `${ro}layer ${layer.id}: ${text}`,
    remedy,
  };
}

/** Keeps each object's problems together, objects in first-seen order. */
export function groupByObject(problems: CheckProblem[]): CheckProblem[] {
  const order = new Map<string, number>();
  problems.forEach((p) => {
    const key = `${p.kind}\0${p.readOnly}\0${p.id}`;
    if (!order.has(key)) order.set(key, order.size);
  });
  return problems
    .map((p, i) => ({ p, i, o: order.get(`${p.kind}\0${p.readOnly}\0${p.id}`)! }))
    .sort((a, b) => a.o - b.o || a.i - b.i)
    .map((x) => x.p);
}

/**
 * The report as upstream's CLI groups it: `Layers`, `ROLayers`, `Images`,
 * `ROImages`, `Containers`, each mapping an ID to its problem messages.
 */
export function reportGroups(report: CheckReport): Record<string, Record<string, string[]>> {
  const groups: Record<string, Record<string, string[]>> = {
    Layers: {},
    ROLayers: {},
    Images: {},
    ROImages: {},
    Containers: {},
  };
  for (const p of report.problems) {
    const name = p.kind === "layer"
      ? (p.readOnly ? "ROLayers" : "Layers")
      : p.kind === "image"
      ? (p.readOnly ? "ROImages" : "Images")
      : "Containers";
    (groups[name][p.id] ??= []).push(p.message);
  }
  return groups;
}
