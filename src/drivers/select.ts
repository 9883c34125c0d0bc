/**
 * Picking and constructing the graph driver (layout.md §5.4).
 *
 * @module
 */

import { join } from "../path.ts";
import { StorageError } from "../errors.ts";
import type { Driver } from "./driver.ts";

/** What driver construction needs. */
export interface DriverSelection {
  graphRoot: string;
  runRoot: string;
  driver?: string;
  driverOptions?: string[];
  driverPriority?: string[];
}

const BUILTIN_PRIORITY = ["overlay", "aufs", "btrfs", "zfs", "vfs"];
const SUPPORTED = ["overlay", "vfs"];

/** Normalises a driver name as upstream does (`overlay2` is `overlay`). */
export function canonicalDriverName(name: string): string {
  return name === "overlay2" ? "overlay" : name;
}

/** Constructs the named driver, or picks one when no name is given. */
export async function createDriver(sel: DriverSelection): Promise<Driver> {
  const name = canonicalDriverName(sel.driver ?? "");
  if (name !== "") return await construct(name, sel);
  const priority = (sel.driverPriority?.length ? sel.driverPriority : BUILTIN_PRIORITY).map(
    canonicalDriverName,
  );
  // A driver that already has state in the graph root wins (vfs only when listed explicitly).
  const prior = priority.filter((d) =>
    (d !== "vfs" || sel.driverPriority?.includes("vfs")) && isDir(join(sel.graphRoot, d))
  );
  if (prior.length > 1) {
    throw new StorageError("driver", undefined, {
      message: `${sel.graphRoot} contains several valid graphdrivers: ${prior.join(", ")}; ` +
        `Please cleanup or explicitly choose storage driver (-s <DRIVER>)`,
    });
  }
  if (prior.length === 1) return await construct(prior[0], sel);
  const errors: string[] = [];
  for (const d of [...priority, "vfs"]) {
    if (!SUPPORTED.includes(d)) continue;
    try {
      // Picked automatically, overlay must be the kernel's: a FUSE mount
      // program would need --allow-run for it, so vfs is the better guess.
      return await construct(d, sel, true);
    } catch (err) {
      errors.push(`${d}: ${(err as Error).message}`);
    }
  }
  throw new StorageError("driver", undefined, {
    message: `no supported storage backend found (${errors.join("; ")})`,
  });
}

async function construct(name: string, sel: DriverSelection, auto = false): Promise<Driver> {
  const options = sel.driverOptions ?? [];
  switch (name) {
    case "vfs": {
      // Imported on use, as overlay is: only the store's own driver is loaded.
      const { VfsDriver } = await import("./vfs.ts");
      return new VfsDriver({ graphRoot: sel.graphRoot, options });
    }
    case "overlay": {
      const { OverlayDriver } = await import("./overlay.ts");
      return await OverlayDriver.create({
        graphRoot: sel.graphRoot,
        runRoot: sel.runRoot,
        options,
        nativeOnly: auto,
      });
    }
    default:
      throw new StorageError("driver", undefined, {
        message: `driver not supported: ${name}`,
      });
  }
}

function isDir(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}
