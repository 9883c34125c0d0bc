/**
 * The layer part of the consistency check: big data, driver contents,
 * regenerated diffs against `diff-digest`, driver directories no record
 * names, and mount counts no mount backs.
 *
 * Callers hold the layer stores' shared locks.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { errorMessage, isNotFound } from "../errors.ts";
import { digestProblem, idProblem } from "../ids.ts";
import { assembleTar } from "../archive/assemble.ts";
import { readTar } from "../archive/tar_reader.ts";
import type { TarHeader } from "../archive/tar_types.ts";
import { readRecordArray } from "../record_file.ts";
import { isIncomplete, type Layer } from "../records/layer_record.ts";
import type { LayerStore } from "../layers.ts";
import type { StoreCore } from "../store_core.ts";
import { layerProblem, PROBLEM_TEXT, type ProblemList } from "./check_report.ts";

/**
 * Checks one layer's files. Returns the headers of its regenerated diff
 * when the diff was regenerated and matched (for the tree comparison).
 */
export async function checkLayerFiles(
  core: StoreCore,
  store: LayerStore,
  layer: Layer,
  list: ProblemList,
  quick: boolean,
): Promise<TarHeader[] | undefined> {
  const add = (text: string) => list.add(layerProblem(layer, text));
  if (isIncomplete(layer)) {
    // Only additional stores keep these: the primary store deletes them
    // when it loads them.
    add("layer is incomplete");
  }
  for (const name of layer.bigDataNames) {
    try {
      const info = await Deno.stat(store.bigDataPath(layer, name));
      if (!info.isFile) throw new Deno.errors.NotFound();
    } catch (err) {
      const what = isNotFound(err) ? PROBLEM_TEXT.layerDataMissing : errorMessage(err);
      add(`data item ${JSON.stringify(name)}: ${what}`);
    }
  }
  // The driver only knows where its own layers are; additional stores'
  // contents are read through it but not listed by it.
  if (!layer.readOnly && !core.driver.exists(layer.id)) {
    add(`${core.driver.name} layer contents are missing`);
    return undefined;
  }
  if (quick || layer.uncompressedDigest === "") return undefined;
  const bad = digestProblem(layer.uncompressedDigest);
  if (bad !== undefined) {
    add(`${bad}: ${JSON.stringify(layer.uncompressedDigest)}`);
    return undefined;
  }
  let result: Regenerated;
  try {
    result = await regenerate(core, store, layer);
  } catch (err) {
    add(errorMessage(err));
    return undefined;
  }
  if (result.digest !== layer.uncompressedDigest) {
    add(PROBLEM_TEXT.layerDigest);
    return undefined;
  }
  if (layer.uncompressedSize > 0 && result.size !== layer.uncompressedSize) {
    add(
      `read ${result.size} bytes instead of ${layer.uncompressedSize} bytes: ${PROBLEM_TEXT.layerSize}`,
    );
    return undefined;
  }
  return result.headers;
}

interface Regenerated {
  digest: string;
  size: number;
  headers: TarHeader[];
}

/** The layer's diff rebuilt from its tar-split and its files: digest, length and headers. */
async function regenerate(core: StoreCore, store: LayerStore, layer: Layer): Promise<Regenerated> {
  const path = store.tarSplitPath(layer.id);
  let tarSplit: Deno.FsFile;
  try {
    tarSplit = await Deno.open(path, { read: true });
  } catch (err) {
    if (isNotFound(err)) throw new Error(`tar-split file ${path} is missing`);
    throw err;
  }
  const ref = store.ref(layer);
  const driver = core.driver;
  const tar = assembleTar(tarSplit.readable, async (name) => {
    const file = await driver.openLayerFile(ref, name);
    if (file === null) throw new Error(`file ${JSON.stringify(name)} is missing`);
    return file;
  });
  const algorithm = layer.uncompressedDigest.slice(0, layer.uncompressedDigest.indexOf(":"));
  const hash = createHash(algorithm);
  let size = 0;
  const [forHash, forHeaders] = tar.tee();
  const hashing = (async () => {
    for await (const chunk of forHash) {
      hash.update(chunk);
      size += chunk.length;
    }
  })();
  const headers: TarHeader[] = [];
  const reading = (async () => {
    const reader = readTar(forHeaders);
    try {
      for (let e = await reader.next(); e; e = await reader.next()) headers.push(e.header);
      for await (const _ of reader.rest()) { /* the bytes after the archive: hashed above */ }
    } catch (err) {
      // The hash tells whether the stream is right; a tar the reader
      // cannot parse just leaves the tree comparison out.
      headers.length = 0;
      await forHeaders.cancel().catch(() => {});
      if (!(err instanceof Error)) throw err;
    }
  })();
  await Promise.all([hashing, reading]);
  return { digest: `${algorithm}:${hash.digest("hex")}`, size, headers };
}

/** Driver directories that no record of the primary layer store names, and tar-split/big data likewise. */
export async function checkUnaccounted(core: StoreCore, list: ProblemList): Promise<void> {
  const known = new Set(core.layers.list().map((l) => l.id));
  const driverIDs = new Set(await core.driver.layerIDs());
  for (const id of [...driverIDs].sort()) {
    if (known.has(id)) continue;
    list.add({
      kind: "layer",
      id,
      readOnly: false,
      message: `layer ${id}: ${PROBLEM_TEXT.layerUnaccounted}`,
      remedy: "driver-remove",
    });
  }
  const dir = core.layers.paths.layersDir;
  let entries: Deno.DirEntry[] = [];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  for (const e of entries.sort((a, b) => a.name < b.name ? -1 : 1)) {
    const id = e.isDirectory
      ? e.name
      : e.isFile && e.name.endsWith(".tar-split.gz")
      ? e.name.slice(0, -".tar-split.gz".length)
      : undefined;
    if (id === undefined || known.has(id) || driverIDs.has(id) || idProblem(id) !== undefined) {
      continue;
    }
    const path = join(dir, e.name);
    list.add({
      kind: "layer",
      id,
      readOnly: false,
      message: `layer ${id}: ${e.isDirectory ? "data directory" : "tar-split file"} ${path} ` +
        "belongs to no layer",
      remedy: "remove-path",
      path,
    });
  }
}

/**
 * Mount counts that no mount backs: entries for layers that do not exist,
 * and (for drivers whose mounts are real mounts) counts whose mount point
 * is not mounted, as after a reboot with a persistent run root.
 */
export async function checkMountCounts(core: StoreCore, list: ProblemList): Promise<void> {
  const table = core.layers.mounts;
  if (table === undefined) return;
  const known = new Set(core.layers.list().map((l) => l.id));
  for (const raw of readRecordArray(table.path)) {
    const id = String(raw["id"]);
    const path = String(raw["path"]);
    const count = Number(raw["count"]);
    const add = (text: string) =>
      list.add({
        kind: "layer",
        id,
        readOnly: false,
        message: `layer ${id}: ${text}`,
        remedy: "reset-mount",
      });
    if (!known.has(id)) {
      add(`mount count ${count} recorded in ${table.path} for a layer that does not exist`);
      continue;
    }
    // vfs "mounts" are plain directories: a count is all there is to them.
    if (count <= 0 || core.driver.name === "vfs") continue;
    if (!(await core.driver.isMounted(id, path))) {
      add(`mounted ${count} times according to ${table.path}, but ${path} is not mounted`);
    }
  }
}
