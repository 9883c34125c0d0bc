/**
 * Creating a layer, optionally with contents from a tar stream, and applying
 * a tar stream to an existing layer.
 *
 * Both build the contents in a private staging directory without holding
 * any store lock, then commit with one short exclusive step (rename the
 * staged tree into place, write the record). Readers and unrelated writers
 * never wait for an extraction, and a crash at any point leaves either no
 * record or the old one: never a record whose contents are half there.
 *
 * @module
 */

import { StorageError } from "../errors.ts";
import { nowRFC3339Nano } from "../go_json.ts";
import { basename } from "../path.ts";
import { APPLYING_FLAG, type Layer, newLayer } from "../records/layer_record.ts";
import type { IDMap } from "../archive/idmap.ts";
import type { LayerInput } from "../archive/layer_stream.ts";
import type { IDMappings, LayerRef, StagedLayer } from "../drivers/driver.ts";
import type { StoreCore } from "../store_core.ts";
import type { AppliedDiff } from "./apply_stream.ts";

// The tar, tar-split, compression and CRC-64 (WebAssembly) code is loaded
// only when a diff is applied: a plain create-layer spent most of its time
// loading and compiling it.
const applyStream = () => import("./apply_stream.ts");

/**
 * Options for creating a layer.
 *
 * @example
 * ```ts
 * import { openStore } from "@cstor/storage";
 * const store = await openStore({ graphRoot: "/tmp/g", runRoot: "/tmp/r", driver: "vfs" });
 * const base = await store.createLayer({ names: ["base"] });
 * const child = await store.createLayer({ parent: base.id, uidMap: [{ container_id: 0, host_id: 100000, size: 65536 }] });
 * console.log(child.parent === base.id);
 * ```
 */
export interface CreateLayerOptions {
  /** The new layer's ID; generated when absent. */
  id?: string;
  /** Parent layer (ID, name or unique prefix); none for a base layer. */
  parent?: string;
  /** Names for the new layer. */
  names?: string[];
  /** SELinux mount label. */
  mountLabel?: string;
  /** Create a read-only rather than read-write layer (vfs: no difference). */
  readOnly?: boolean;
  /** UID map of the contents; default: the parent's, or the store's default. */
  uidMap?: IDMap[];
  /** GID map of the contents. */
  gidMap?: IDMap[];
  /** Use host UIDs (no UID map) whatever the parent has. */
  hostUIDMapping?: boolean;
  /** Use host GIDs (no GID map) whatever the parent has. */
  hostGIDMapping?: boolean;
  /**
   * Tar stream (optionally compressed) to fill the new layer with; a
   * `Deno.FsFile` is read directly (faster than its `readable`).
   */
  diff?: LayerInput;
  /** Opaque metadata. */
  metadata?: string;
  /** Created volatile (container layers in transient mode or with --volatile). */
  volatile?: boolean;
  /** Per-layer driver options (vfs refuses them). */
  storageOpt?: Record<string, string>;
}

interface Plan {
  id: string;
  names: string[];
  parent: LayerRef | undefined;
  maps: IDMappings;
}

/** Works out the new layer's maps (layers-and-diffs.md §1 step 3). */
export function layerMaps(
  opts: Pick<CreateLayerOptions, "uidMap" | "gidMap" | "hostUIDMapping" | "hostGIDMapping">,
  parent: Layer | undefined,
  defaults: IDMappings,
): IDMappings {
  const base = parent ? { uidMap: parent.uidMap, gidMap: parent.gidMap } : defaults;
  const uidMap = opts.hostUIDMapping ? [] : opts.uidMap?.length ? opts.uidMap : base.uidMap;
  const gidMap = opts.hostGIDMapping ? [] : opts.gidMap?.length ? opts.gidMap : base.gidMap;
  return { uidMap: structuredClone(uidMap), gidMap: structuredClone(gidMap) };
}

/** Checks the parent and names and settles the ID (store locks held). */
function planLocked(core: StoreCore, opts: CreateLayerOptions): Plan {
  let parent: Layer | undefined;
  if (opts.parent) {
    parent = core.findLayer(opts.parent)?.layer;
    if (parent === undefined) throw new StorageError("layer-unknown");
    if (core.containers.byLayer(parent.id) !== undefined) {
      throw new StorageError("parent-is-container");
    }
  }
  const names = [...new Set(opts.names ?? [])];
  const id = opts.id || core.layers.newID();
  core.layers.checkNew(id, names);
  const maps = layerMaps(opts, parent, { uidMap: core.defaultUIDMap, gidMap: core.defaultGIDMap });
  return { id, names, parent: parent ? core.layers.ref(parent) : undefined, maps };
}

/** Creates a layer (and applies `opts.diff` to it when given). */
export async function createLayer(core: StoreCore, opts: CreateLayerOptions): Promise<Layer> {
  const plan = await core.withLocks({ layers: "r", containers: "r" }, () => planLocked(core, opts));
  const driver = core.driver;
  const staged = await driver.stage(plan.parent, {
    mountLabel: opts.mountLabel ?? "",
    maps: plan.maps,
    parentMaps: plan.parent?.maps ?? { uidMap: [], gidMap: [] },
    storageOpt: opts.storageOpt,
  });
  try {
    let applied: AppliedDiff | undefined;
    if (opts.diff) {
      const { applyLayerStream } = await applyStream();
      applied = await applyLayerStream(driver, staged, plan.parent, plan.maps, opts.diff);
    }
    return await core.withLocks({ layers: "w", containers: "r" }, async () => {
      // Things may have changed while we worked without locks.
      const again = planLocked(core, { ...opts, id: plan.id });
      if (again.parent?.id !== plan.parent?.id) throw new StorageError("layer-unknown");
      const layer = newLayer(plan.id, nowRFC3339Nano());
      layer.names = plan.names;
      layer.parent = plan.parent?.id ?? "";
      layer.metadata = opts.metadata ?? "";
      layer.mountLabel = opts.mountLabel ?? "";
      layer.uidMap = plan.maps.uidMap;
      layer.gidMap = plan.maps.gidMap;
      layer.volatile = opts.volatile ?? false;
      if (applied) setDiffFields(layer, applied);
      await driver.commit(staged, plan.id, plan.parent);
      try {
        if (applied) {
          await (await applyStream()).commitTarSplit(applied, core.layers.tarSplitPath(plan.id));
        }
        return core.layers.add(layer);
      } catch (err) {
        await driver.remove(plan.id).catch(() => {});
        await Deno.remove(core.layers.tarSplitPath(plan.id)).catch(() => {});
        throw err;
      }
    });
  } finally {
    await driver.discard(staged);
  }
}

/** Copies what an applied diff measured into a layer record. */
function setDiffFields(layer: Layer, applied: AppliedDiff): void {
  layer.compressedDigest = applied.compressedDigest;
  layer.compressedSize = applied.compressedSize;
  layer.uncompressedDigest = applied.uncompressedDigest;
  layer.uncompressedSize = applied.uncompressedSize;
  layer.compression = applied.compression;
  layer.uidSet = applied.uidSet;
  layer.gidSet = applied.gidSet;
}

/**
 * Applies a tar stream to an existing layer of the primary store: the
 * layer's own contents are copied to staging, the stream applied there, and
 * the result swapped in with the new digests in one short locked step.
 */
export async function applyDiff(
  core: StoreCore,
  key: string,
  diff: LayerInput,
): Promise<Layer> {
  const ref = await core.withLocks({ layers: "r" }, () => {
    const layer = core.layers.find(key);
    if (layer === undefined) throw new StorageError("layer-unknown");
    return core.layers.ref(layer);
  });
  const driver = core.driver;
  let staged: StagedLayer | undefined = await driver.stageExisting(ref);
  try {
    const parent = ref.parent ? { id: ref.parent, parent: "", maps: ref.maps } : undefined;
    const { applyLayerStream, commitTarSplit } = await applyStream();
    const applied = await applyLayerStream(driver, staged, parent, ref.maps, diff);
    return await core.withLocks({ layers: "w" }, async () => {
      const layer = core.layers.find(ref.id);
      if (layer === undefined || layer.id !== ref.id) {
        throw new StorageError(
          "layer-unknown",
          `layer ${ref.id} was removed while a diff was applied to it`,
        );
      }
      // The record (new diff fields, and a mark naming the staging
      // directory) is saved before the contents are swapped, so a kill
      // during the swap is finished by the next writer, never left as a
      // layer whose record and contents disagree (see APPLYING_FLAG).
      const before = structuredClone(layer);
      setDiffFields(layer, applied);
      layer.flags[APPLYING_FLAG] = basename(staged!.dir);
      core.layers.saveLayer(layer);
      try {
        await driver.commit(staged!, ref.id, parent);
      } catch (err) {
        Object.assign(layer, {
          compressedDigest: before.compressedDigest,
          compressedSize: before.compressedSize,
          uncompressedDigest: before.uncompressedDigest,
          uncompressedSize: before.uncompressedSize,
          compression: before.compression,
          uidSet: before.uidSet,
          gidSet: before.gidSet,
          flags: before.flags,
        });
        core.layers.saveLayer(layer);
        throw err;
      }
      await commitTarSplit(applied, core.layers.tarSplitPath(ref.id));
      delete layer.flags[APPLYING_FLAG];
      core.layers.saveLayer(layer);
      return structuredClone(layer);
    });
  } finally {
    if (staged) await driver.discard(staged);
    staged = undefined;
  }
}
