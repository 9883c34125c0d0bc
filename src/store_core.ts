/**
 * The state behind a Store: roots, the graph lock, the driver, the primary
 * and additional record stores, and the one place where the lock order is
 * written down.
 *
 * Lock order (locking.md §5), always taken in this order, released in any:
 *   1. GR/storage.lock (graph lock)
 *   2. primary layer store      3. additional layer stores (shared)
 *   4. primary image store      5. additional image stores (shared)
 *   6. container store
 * `mountpoints.lock` is innermost, taken only while the primary layer
 * store's lock is held.
 *
 * @module
 */

import { join, resolve } from "./path.ts";
import { StorageError } from "./errors.ts";
import { getLockFile, type LockFile } from "./lock/lockfile.ts";
import { peekToken } from "./mounts.ts";
import { LayerStore } from "./layers.ts";
import { ImageStore } from "./images.ts";
import { ContainerStore } from "./containers.ts";
import type { Driver } from "./drivers/driver.ts";
import type { IDMap } from "./archive/idmap.ts";
import { createDriver } from "./drivers/select.ts";
import type { Layer } from "./records/layer_record.ts";
import type { Image } from "./records/image_record.ts";

/**
 * Options for opening a store.
 *
 * @example
 * ```ts
 * import { openStore, type StoreOptions } from "@cstor/storage";
 * const options: StoreOptions = { graphRoot: "/tmp/g", runRoot: "/tmp/r", driver: "vfs" };
 * const store = await openStore(options);
 * console.log(store.driverName);
 * ```
 */
export interface StoreOptions {
  /** Graph root: where layers, images and containers are kept. */
  graphRoot: string;
  /** Run root: mount counts and per-container run directories (normally on tmpfs). */
  runRoot: string;
  /** Driver name (`vfs`, `overlay`; `overlay2` means `overlay`); empty or absent: pick one as upstream does. */
  driver?: string;
  /** Driver options such as `vfs.imagestore=/other/graph` or `overlay.mountopt=nodev`. */
  driverOptions?: string[];
  /** Keep containers and their layers under the run root (lost at reboot). */
  transientStore?: boolean;
  /** Default UID map for new layers without a parent (`remap-uids`). */
  uidMap?: IDMap[];
  /** Default GID map for new layers without a parent (`remap-gids`). */
  gidMap?: IDMap[];
  /** Driver names tried in order when none is given. */
  driverPriority?: string[];
}

/** How a store wants each record store locked for one operation. */
export interface LockSpec {
  graph?: boolean;
  layers?: "r" | "w";
  images?: "r" | "w";
  containers?: "r" | "w";
}

/** The internals shared by the store operations (src/ops/). */
export class StoreCore {
  readonly graphRoot: string;
  readonly runRoot: string;
  readonly transient: boolean;
  readonly defaultUIDMap: IDMap[];
  readonly defaultGIDMap: IDMap[];
  readonly graphLock: LockFile;
  readonly options: StoreOptions;

  // Replaced together when another process shut the driver down
  // (graph lock token changed); guarded by graphLock.
  driver: Driver;
  layers: LayerStore;
  roLayers: LayerStore[];
  images: ImageStore;
  roImages: ImageStore[];
  containers: ContainerStore;
  #graphToken: string;

  private constructor(options: StoreOptions, driver: Driver, graphLock: LockFile, token: string) {
    this.options = options;
    this.graphRoot = options.graphRoot;
    this.runRoot = options.runRoot;
    this.transient = options.transientStore ?? false;
    this.defaultUIDMap = options.uidMap ?? [];
    this.defaultGIDMap = options.gidMap ?? [];
    this.graphLock = graphLock;
    this.driver = driver;
    this.#graphToken = token;
    const d = driver.name;
    const gr = this.graphRoot;
    const rr = this.runRoot;
    this.layers = this.newLayerStore(driver);
    this.roLayers = driver.imageStores.map((s) =>
      new LayerStore(
        { layersDir: join(s, `${d}-layers`), volatileDir: join(s, `${d}-layers`) },
        driver,
        true,
      )
    );
    this.images = new ImageStore(join(gr, `${d}-images`), false);
    this.roImages = driver.imageStores.map((s) => new ImageStore(join(s, `${d}-images`), true));
    this.containers = new ContainerStore({
      dir: join(gr, `${d}-containers`),
      runDir: join(rr, `${d}-containers`),
      volatileDir: this.transient ? join(rr, `${d}-containers`) : join(gr, `${d}-containers`),
    });
    Deno.mkdirSync(join(rr, `${d}-locks`), { recursive: true, mode: 0o700 });
  }

  /** Opens (creating if needed) the store at the given roots. */
  static async open(options: StoreOptions): Promise<StoreCore> {
    const graphRoot = resolve(options.graphRoot);
    const runRoot = resolve(options.runRoot);
    const opts: StoreOptions = { ...options, graphRoot, runRoot };
    await Deno.mkdir(runRoot, { recursive: true, mode: 0o700 });
    await Deno.mkdir(graphRoot, { recursive: true, mode: 0o700 });
    const graphLock = getLockFile(join(graphRoot, "storage.lock"));
    // userns.lock exists in every store upstream creates; make it too so
    // Go tools find the layout they expect.
    getLockFile(join(graphRoot, "userns.lock"));
    await graphLock.lock();
    try {
      const driver = await createDriver(opts);
      return new StoreCore(opts, driver, graphLock, peekToken(graphLock.path));
    } finally {
      graphLock.unlock();
    }
  }

  private newLayerStore(driver: Driver): LayerStore {
    const d = driver.name;
    return new LayerStore(
      {
        layersDir: join(this.graphRoot, `${d}-layers`),
        volatileDir: this.transient
          ? join(this.runRoot, `${d}-layers`)
          : join(this.graphRoot, `${d}-layers`),
        runLayersDir: join(this.runRoot, `${d}-layers`),
      },
      driver,
      false,
    );
  }

  /**
   * Re-creates the driver when another process shut it down since we last
   * looked (locking.md §6). The token is peeked without the lock so readers
   * never wait on the graph lock; only a change takes it.
   */
  async refreshDriver(): Promise<void> {
    if (peekToken(this.graphLock.path) === this.#graphToken) return;
    await this.graphLock.lock();
    try {
      await this.refreshDriverLocked();
    } finally {
      this.graphLock.unlock();
    }
  }

  /** {@link refreshDriver} with the graph lock already held. */
  async refreshDriverLocked(): Promise<void> {
    const token = peekToken(this.graphLock.path);
    if (token === this.#graphToken) return;
    const driver = await createDriver({ ...this.options, driver: this.driver.name });
    if (driver.name !== this.driver.name) {
      throw new StorageError("driver", undefined, {
        message:
          `graph driver name changed from ${this.driver.name} to ${driver.name} during reload`,
      });
    }
    this.driver = driver;
    this.layers = this.newLayerStore(driver);
    this.#graphToken = token;
  }

  /** Records that this process shut the driver down, so every process re-initialises it. */
  recordShutdown(): void {
    this.#graphToken = [...this.graphLock.recordWrite()].map((b) => b.toString(16).padStart(2, "0"))
      .join("");
  }

  /**
   * Runs `fn` holding the locks `spec` asks for, taken in the store's lock
   * order; additional stores are locked shared along with their primary.
   */
  async withLocks<R>(spec: LockSpec, fn: () => R | Promise<R>): Promise<R> {
    const release: Array<() => void> = [];
    try {
      if (spec.graph) {
        await this.graphLock.lock();
        release.push(() => this.graphLock.unlock());
        await this.refreshDriverLocked();
      } else {
        await this.refreshDriver();
      }
      if (spec.layers) {
        const primary = this.layers;
        if (spec.layers === "w") {
          await primary.startWriting();
          release.push(() => primary.stopWriting());
        } else {
          await primary.startReading();
          release.push(() => primary.stopReading());
        }
        for (const ro of this.roLayers) {
          await ro.startReading();
          release.push(() => ro.stopReading());
        }
      }
      if (spec.images) {
        const primary = this.images;
        if (spec.images === "w") {
          await primary.startWriting();
          release.push(() => primary.stopWriting());
        } else {
          await primary.startReading();
          release.push(() => primary.stopReading());
        }
        for (const ro of this.roImages) {
          await ro.startReading();
          release.push(() => ro.stopReading());
        }
      }
      if (spec.containers) {
        const c = this.containers;
        if (spec.containers === "w") {
          await c.startWriting();
          release.push(() => c.stopWriting());
        } else {
          await c.startReading();
          release.push(() => c.stopReading());
        }
      }
      return await fn();
    } finally {
      for (const r of release.reverse()) r();
    }
  }

  /** All layer stores, primary first. */
  allLayerStores(): LayerStore[] {
    return [this.layers, ...this.roLayers];
  }

  /** All image stores, primary first. */
  allImageStores(): ImageStore[] {
    return [this.images, ...this.roImages];
  }

  /** A layer (live record) and its store, from the primary then the additional stores. */
  findLayer(key: string): { layer: Layer; store: LayerStore } | undefined {
    for (const store of this.allLayerStores()) {
      const layer = store.find(key);
      if (layer !== undefined) return { layer, store };
    }
    return undefined;
  }

  /** An image (live record) and its store, from the primary then the additional stores. */
  findImage(key: string): { image: Image; store: ImageStore } | undefined {
    for (const store of this.allImageStores()) {
      const image = store.find(key);
      if (image !== undefined) return { image, store };
    }
    return undefined;
  }

  /** Layer by ID across all stores (no name/prefix matching). */
  layerByID(id: string): Layer | undefined {
    for (const store of this.allLayerStores()) {
      const l = store.find(id);
      if (l !== undefined && l.id === id) return l;
    }
    return undefined;
  }
}
