/**
 * The overlay driver. Not built yet: opening a store with it fails with a
 * clear error, and driver auto-selection falls back to vfs.
 *
 * @module
 */

import { StorageError } from "../errors.ts";
import type { Driver } from "./driver.ts";

/** Construction options of the overlay driver. */
export interface OverlayOptions {
  graphRoot: string;
  runRoot: string;
  options: readonly string[];
}

/** The overlay driver (not available yet). */
export class OverlayDriver {
  /** Always fails for now. */
  static create(_opts: OverlayOptions): Promise<Driver> {
    return Promise.reject(
      new StorageError("driver", undefined, {
        message: "driver not supported: overlay (not implemented yet)",
      }),
    );
  }
}
