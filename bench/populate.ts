/**
 * Fills a store with many layers and images fast, by writing layers.json and
 * images.json directly in the upstream format (records as a pull by Podman
 * leaves them), after the side's own CLI created the store's layout.
 *
 * @module
 */

import { join } from "node:path";
import { run } from "./proc.ts";
import type { BenchStore } from "./sides.ts";

/** A deterministic 64-hex-digit ID from a seed. */
function hexID(seed: string): string {
  // Two rounds of a 32-bit mix per 8 digits: fast, stable, and not an actual digest.
  let out = "";
  let h = 0x9e3779b9;
  for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 0x85ebca6b);
  for (let part = 0; part < 8; part++) {
    h = Math.imul(h ^ (h >>> 13) ^ part, 0xc2b2ae35) >>> 0;
    out += h.toString(16).padStart(8, "0");
  }
  return out;
}

/** Writes `layers` layers (pairs: a base and a child) and `images` images on the children. */
export async function populateStore(
  store: BenchStore,
  layers: number,
  images: number,
): Promise<void> {
  // Let the side create its own layout and lock files first.
  await run(store.argv(["layers"]));
  const created = "2024-05-01T10:00:00.123456789Z";
  const layerRecords: Record<string, unknown>[] = [];
  const ids: string[] = [];
  for (let i = 0; i < layers; i++) {
    const id = hexID(`layer-${i}`);
    ids.push(id);
    const rec: Record<string, unknown> = { id };
    if (i % 2 === 1) rec.parent = ids[i - 1];
    rec.created = created;
    rec["compressed-diff-digest"] = `sha256:${hexID(`c-${i}`)}`;
    rec["compressed-size"] = 1000 + i;
    rec["diff-digest"] = `sha256:${hexID(`u-${i}`)}`;
    rec["diff-size"] = 4096 + i;
    rec.compression = 2;
    rec.uidset = [0];
    rec.gidset = [0];
    layerRecords.push(rec);
  }
  const imageRecords: Record<string, unknown>[] = [];
  for (let i = 0; i < images; i++) {
    const id = hexID(`image-${i}`);
    const manifest = `sha256:${hexID(`m-${i}`)}`;
    const name = `registry.example.com/bench/image-${i}:latest`;
    imageRecords.push({
      id,
      digest: manifest,
      names: [name],
      "names-history": [name],
      layer: ids[(2 * i + 1) % layers],
      metadata: `{"created":"${created}"}`,
      "big-data-names": [`sha256:${id}`, `manifest-${manifest}`, "manifest"],
      "big-data-sizes": { [`sha256:${id}`]: 1500, [`manifest-${manifest}`]: 700, manifest: 700 },
      "big-data-digests": {
        [`sha256:${id}`]: `sha256:${id}`,
        [`manifest-${manifest}`]: manifest,
        manifest,
      },
      created,
    });
  }
  const d = store.driver;
  await Deno.writeTextFile(
    join(store.graph, `${d}-layers`, "layers.json"),
    JSON.stringify(layerRecords),
  );
  await Deno.writeTextFile(
    join(store.graph, `${d}-images`, "images.json"),
    JSON.stringify(imageRecords),
  );
  // Each layer's directory exists, as it would after a pull (vfs layout).
  const dirs = join(store.graph, d, "dir");
  await Deno.mkdir(dirs, { recursive: true });
  for (const id of ids) await Deno.mkdir(join(dirs, id), { mode: 0o555 });
}
