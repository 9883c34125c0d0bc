/**
 * Mounting and unmounting layers and containers with reference counts in
 * `mountpoints.json` (locking.md §7).
 *
 * @module
 */

import { normalize } from "../path.ts";
import { StorageError } from "../errors.ts";
import type { Layer } from "../records/layer_record.ts";
import type { IDMappings } from "../drivers/driver.ts";
import type { StoreCore } from "../store_core.ts";
import type { MountTable } from "../mounts.ts";

/**
 * Options for mounting.
 *
 * @example
 * ```ts
 * import { openStore } from "@cstor/storage";
 * const store = await openStore({ graphRoot: "/tmp/g", runRoot: "/tmp/r", driver: "vfs" });
 * const layer = await store.createLayer();
 * console.log(await store.mount(layer.id, { options: ["ro"] }));
 * await store.unmount(layer.id);
 * ```
 */
export interface MountOptions {
  /** Mount options, e.g. `["ro"]`; a container's own `MountOpts` are used when empty. */
  options?: string[];
  /** SELinux label. */
  mountLabel?: string;
  /** ID maps the caller wants to see. */
  maps?: IDMappings;
}

function mountTable(core: StoreCore): MountTable {
  const m = core.layers.mounts;
  if (m === undefined) throw new StorageError("read-only-store", core.layers.paths.layersDir);
  return m;
}

/** Runs `fn` with the mount table locked and current (layer store lock held by the caller). */
async function withMounts<R>(core: StoreCore, fn: (m: MountTable) => Promise<R>): Promise<R> {
  const m = mountTable(core);
  await m.lock.lock();
  try {
    if (m.changed()) m.load((id) => core.layers.find(id)?.id === id);
    return await fn(m);
  } finally {
    m.lock.unlock();
  }
}

function saveMounts(core: StoreCore, m: MountTable): void {
  m.save(core.layers.list().map((l) => l.id));
}

/** Mounts a layer or a container's layer; returns the mount point. */
export async function mount(
  core: StoreCore,
  key: string,
  opts: MountOptions = {},
): Promise<string> {
  return await core.withLocks({ graph: true, layers: "w", containers: "r" }, async () => {
    let options = opts.options ?? [];
    let volatile = false;
    let maps = opts.maps;
    let layerKey = key;
    const c = core.containers.find(key);
    if (c !== undefined) {
      layerKey = c.layerID;
      if (options.length === 0 && Array.isArray(c.flags["MountOpts"])) {
        options = (c.flags["MountOpts"] as unknown[]).map(String);
      }
      volatile = c.flags["Volatile"] === true;
      maps ??= { uidMap: c.uidMap, gidMap: c.gidMap };
    }
    let layer: Layer | undefined = core.layers.find(layerKey);
    if (layer === undefined) {
      const ro = core.roLayers.map((s) => s.find(layerKey)).find((l) => l !== undefined);
      if (ro !== undefined && !options.includes("ro")) {
        throw new StorageError("read-only-store", `layer ${ro.id}`);
      }
      layer = ro;
    }
    if (layer === undefined) throw new StorageError("layer-unknown");
    const target = layer;
    const ref = core.layers.ref(target);
    return await withMounts(core, async (m) => {
      const cur = m.get(target.id);
      if (cur.count > 0 && await core.driver.isMounted(target.id, cur.path)) {
        m.set(target.id, { path: cur.path, count: cur.count + 1 });
        saveMounts(core, m);
        return cur.path;
      }
      const path = normalize(
        await core.driver.mount(ref, {
          mountLabel: opts.mountLabel ?? target.mountLabel,
          options,
          maps,
          volatile,
        }),
      );
      m.set(target.id, { path, count: cur.count + 1 });
      saveMounts(core, m);
      return path;
    });
  });
}

/**
 * Unmounts once (or completely with `force`). Returns true when the layer
 * is still mounted afterwards. With `conditional`, a layer that is not
 * mounted gives `layer-not-mounted` and nothing is done.
 */
export async function unmountLocked(
  core: StoreCore,
  key: string,
  force: boolean,
  conditional: boolean,
): Promise<boolean> {
  const c = core.containers.find(key);
  const layerKey = c?.layerID ?? key;
  return await withMounts(core, async (m) => {
    let layer = core.layers.find(layerKey);
    if (layer === undefined) {
      const byPath = m.byPath(normalize(layerKey));
      if (byPath !== undefined) layer = core.layers.find(byPath);
    }
    if (layer === undefined) {
      if (core.roLayers.some((s) => s.find(layerKey) !== undefined)) {
        throw new StorageError("read-only-store", `layer ${layerKey}`);
      }
      throw new StorageError("layer-unknown");
    }
    const cur = m.get(layer.id);
    if (conditional && cur.count <= 0) throw new StorageError("layer-not-mounted");
    const count = force ? 1 : cur.count;
    if (count > 1) {
      m.set(layer.id, { path: cur.path, count: count - 1 });
      saveMounts(core, m);
      return true;
    }
    await core.driver.unmount(layer.id);
    m.delete(layer.id);
    saveMounts(core, m);
    return false;
  });
}

/** Unmounts a layer or container (`force`: completely). True when still mounted. */
export async function unmount(core: StoreCore, key: string, force: boolean): Promise<boolean> {
  return await core.withLocks(
    { layers: "w", containers: "r" },
    () => unmountLocked(core, key, force, false),
  );
}

/** How many times a layer or container's layer is mounted. */
export async function mountCount(core: StoreCore, key: string): Promise<number> {
  return await core.withLocks({ layers: "r", containers: "r" }, () => {
    const c = core.containers.find(key);
    const layerKey = c?.layerID ?? key;
    const layer = core.layers.find(layerKey);
    if (layer === undefined) {
      const ro = core.roLayers.map((s) => s.find(layerKey)).find((l) => l !== undefined);
      if (ro !== undefined) {
        throw new StorageError("read-only-store", undefined, {
          message: `no mount information for layers in read-only layer store ${layerKey}`,
        });
      }
      throw new StorageError("layer-unknown");
    }
    return core.layers.mounts?.get(layer.id).count ?? 0;
  });
}
