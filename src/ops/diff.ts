/**
 * Reading a layer's contents back: the tar stream (byte-identical to what
 * was applied, when tar-split is there), its changes and their size.
 *
 * @module
 */

import { StorageError } from "../errors.ts";
import { assembleTar } from "../archive/assemble.ts";
import {
  compress,
  Compression,
  compressionExtension,
  type CompressionKind,
} from "../archive/compression.ts";
import type { Change, LayerRef } from "../drivers/driver.ts";
import type { StoreCore } from "../store_core.ts";
import type { LayerStore } from "../layers.ts";
import type { Layer } from "../records/layer_record.ts";

/**
 * Options for a diff.
 *
 * @example
 * ```ts
 * import { openStore } from "@cstor/storage";
 * const store = await openStore({ graphRoot: "/tmp/g", runRoot: "/tmp/r", driver: "vfs" });
 * const layer = await store.createLayer();
 * const tar = await store.diff(layer.id, { compression: 0 });
 * await tar.pipeTo((await Deno.create("/tmp/layer.tar")).writable);
 * ```
 */
export interface DiffOptions {
  /** The layer to compare against; its parent by default (an unknown one also means the parent). */
  from?: string;
  /** Output compression; the layer's recorded compression by default. */
  compression?: number;
}

interface Resolved {
  layer: Layer;
  store: LayerStore;
  ref: LayerRef;
  from: LayerRef | undefined;
  /** `from` is the layer's real parent (or both are absent). */
  fromIsParent: boolean;
}

function resolve(core: StoreCore, key: string, fromKey: string | undefined): Resolved {
  const found = core.findLayer(key);
  if (found === undefined) throw new StorageError("layer-unknown");
  const { layer, store } = found;
  let from: Layer | undefined;
  if (fromKey) from = core.findLayer(fromKey)?.layer;
  if (from === undefined && layer.parent) from = core.findLayer(layer.parent)?.layer;
  const fromRef = from === undefined
    ? undefined
    : (core.findLayer(from.id)?.store ?? store).ref(from);
  return {
    layer,
    store,
    ref: store.ref(layer),
    from: fromRef,
    fromIsParent: (from?.id ?? "") === layer.parent,
  };
}

/** The layer's tar stream; the layer store stays read-locked until the stream ends. */
export async function diff(
  core: StoreCore,
  key: string,
  opts: DiffOptions,
): Promise<ReadableStream<Uint8Array>> {
  await core.refreshDriver();
  const stores = core.allLayerStores();
  const held: LayerStore[] = [];
  const release = () => {
    for (const s of held.splice(0)) s.stopReading();
  };
  try {
    for (const s of stores) {
      await s.startReading();
      held.push(s);
    }
    const r = resolve(core, key, opts.from);
    const kind = (opts.compression ?? r.layer.compression) as CompressionKind;
    if (kind === Compression.bzip2 || kind === Compression.xz) {
      throw new StorageError("unsupported", undefined, {
        message: `unsupported compression format ${compressionExtension(kind)}`,
      });
    }
    let tar: ReadableStream<Uint8Array>;
    const tarSplit = r.fromIsParent ? await openIfExists(r.store.tarSplitPath(r.layer.id)) : null;
    if (tarSplit === null) {
      tar = await core.driver.diff(r.ref, r.from);
    } else {
      const driver = core.driver;
      const verified = new Set<string>();
      tar = assembleTar(tarSplit.readable, async (name) => {
        const file = await driver.openLayerFile(r.ref, name, verified);
        if (file === null) {
          throw new StorageError(
            "file-not-exist",
            `opening ${JSON.stringify(name)} in layer ${r.layer.id}`,
          );
        }
        return file;
      });
    }
    const out = kind === Compression.none ? tar : compress(tar, kind);
    return releaseWhenDone(out, release);
  } catch (err) {
    release();
    throw err;
  }
}

async function openIfExists(path: string): Promise<Deno.FsFile | null> {
  try {
    return await Deno.open(path, { read: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
}

/** Passes `stream` through and calls `release` once it ended, failed or was cancelled. */
function releaseWhenDone(
  stream: ReadableStream<Uint8Array>,
  release: () => void,
): ReadableStream<Uint8Array> {
  const reader = stream.getReader();
  let done = false;
  const finish = () => {
    if (!done) {
      done = true;
      release();
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const r = await reader.read();
        if (r.done) {
          finish();
          controller.close();
        } else {
          controller.enqueue(r.value);
        }
      } catch (err) {
        finish();
        controller.error(err);
      }
    },
    async cancel(reason) {
      finish();
      await reader.cancel(reason);
    },
  });
}

/** What changed in a layer against `from` (its parent by default). */
export async function changes(core: StoreCore, key: string, from?: string): Promise<Change[]> {
  return await core.withLocks({ layers: "r" }, async () => {
    const r = resolve(core, key, from);
    return await core.driver.changes(r.ref, r.from);
  });
}

/** Estimated size of the diff's contents. */
export async function diffSize(core: StoreCore, key: string, from?: string): Promise<number> {
  return await core.withLocks({ layers: "r" }, async () => {
    const r = resolve(core, key, from);
    return await core.driver.diffSize(r.ref, r.from);
  });
}
