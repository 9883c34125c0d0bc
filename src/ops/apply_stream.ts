/**
 * Applying a (compressed) tar stream to a staged layer in one pass: detect
 * the compression, hash the input and the decompressed stream, record
 * tar-split, collect UID/GID sets, extract through the driver.
 *
 * @module
 */

import { basename, join } from "node:path";
import {
  type LayerInput,
  type LayerStreamResult,
  openLayerStream,
} from "../archive/layer_stream.ts";
import { recordTarSplit, TarSplitPacker } from "../archive/tar_split.ts";
import type { Driver, IDMappings, LayerRef, StagedLayer } from "../drivers/driver.ts";
import { writeStreamAtomic } from "../record_file.ts";

/** What applying a stream measured; the tar-split waits in the staging directory. */
export interface AppliedDiff extends LayerStreamResult {
  compression: number;
  uidSet: number[];
  gidSet: number[];
  /** The driver's size of what was applied. */
  size: number;
  /** The tar-split file, inside the staging directory until committed. */
  tarSplitPath: string;
}

/** Applies `input` to `staged`; nothing outside the staging directory changes. */
export async function applyLayerStream(
  driver: Driver,
  staged: StagedLayer,
  parent: LayerRef | undefined,
  maps: IDMappings,
  input: LayerInput,
): Promise<AppliedDiff> {
  const tarSplitPath = join(staged.dir, "tar-split.gz");
  const file = await Deno.open(tarSplitPath, { write: true, createNew: true, mode: 0o600 });
  const packer = new TarSplitPacker({
    async write(chunk) {
      let off = 0;
      while (off < chunk.length) off += await file.write(chunk.subarray(off));
    },
  });
  let layer;
  try {
    layer = await openLayerStream(input);
  } catch (err) {
    await packer.abort(err);
    file.close();
    throw err;
  }
  try {
    const reader = recordTarSplit(layer.tar, packer);
    const uids = new Set<number>();
    const gids = new Set<number>();
    const size = await driver.applyDiff(staged, parent, reader, {
      maps,
      onHeader(h) {
        if (basename(h.name).startsWith(".wh.")) return;
        uids.add(h.uid);
        gids.add(h.gid);
      },
    });
    // The bytes after the archive's end belong to the digest and the tar-split too.
    for await (const _ of reader.rest()) { /* recorded by the wrapper */ }
    await packer.close();
    await file.syncData();
    file.close();
    const result = await layer.finish();
    return {
      ...result,
      compression: layer.compression,
      uidSet: [...uids].sort((a, b) => a - b),
      gidSet: [...gids].sort((a, b) => a - b),
      size,
      tarSplitPath,
    };
  } catch (err) {
    await packer.abort(err);
    await layer.cancel(err).catch(() => {});
    try {
      file.close();
    } catch { /* already closed */ }
    throw err;
  }
}

/** Moves the staged tar-split file to its place beside the layer records. */
export async function commitTarSplit(applied: AppliedDiff, dest: string): Promise<void> {
  try {
    await Deno.rename(applied.tarSplitPath, dest);
  } catch (err) {
    // The staging directory can be on another mount than the records: the
    // overlay home is bind-mounted onto itself (by Go's tools, and by cstor
    // before it mounts a layer), and rename(2) never crosses mounts.
    if ((err as { code?: string }).code !== "EXDEV") throw err;
    const src = await Deno.open(applied.tarSplitPath, { read: true });
    await writeStreamAtomic(dest, src.readable);
  }
}
