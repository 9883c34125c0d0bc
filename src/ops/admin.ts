/**
 * Whole-store operations: status and shutdown.
 *
 * @module
 */

import { StorageError } from "../errors.ts";
import type { StoreCore } from "../store_core.ts";
import { unmountLocked } from "./mount.ts";

/** `status` pairs: roots, driver name and options, then the driver's own. */
export async function status(core: StoreCore): Promise<Array<[string, string]>> {
  await core.refreshDriver();
  return [
    ["Root", core.graphRoot],
    ["Run Root", core.runRoot],
    ["Driver Name", core.driver.name],
    ["Driver Options", `[${core.driver.options.join(" ")}]`],
    ...(await core.driver.status()),
  ];
}

/**
 * Shuts the driver down (locking.md §7.4). Fails when any layer is mounted,
 * even after `force` unmounted them all; otherwise cleans up the driver and
 * records the shutdown so every process re-initialises its driver.
 * Returns the IDs of the layers that were mounted.
 */
export async function shutdown(core: StoreCore, force: boolean): Promise<void> {
  await core.withLocks({ graph: true, layers: "w", containers: "r" }, async () => {
    const mounted = core.layers.mounts?.mountedIDs() ?? [];
    if (force) {
      for (const id of mounted) {
        for (;;) {
          try {
            await unmountLocked(core, id, true, true);
          } catch (err) {
            if (err instanceof StorageError && err.code === "layer-not-mounted") break;
            throw err;
          }
        }
      }
    }
    if (mounted.length > 0) {
      throw new StorageError("layer-used-by-container", "a layer is mounted");
    }
    await core.driver.cleanup();
    core.recordShutdown();
  });
}
