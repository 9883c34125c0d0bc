/**
 * Concurrency across processes: cstor writers (with and without FFI) and
 * Debian's Go `containers-storage` writing one store at the same time lose
 * no record and no update, including read-modify-write changes of one
 * shared image (its names and big data) by every writer.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  DENO,
  goCLI,
  haveGo,
  NO_GO,
  ROOT,
  run,
  type TempStore,
  tempStore,
  testIf,
} from "./helpers.ts";
import { firstLine, ok } from "./fixtures/robustness/util.ts";
import { openStore } from "../mod.ts";

const WRITER = join(ROOT, "tests", "fixtures", "robustness", "writer.ts");
const WITH_FFI = ["--allow-read", "--allow-write", "--allow-env", "--allow-ffi"];
const WITHOUT_FFI = ["--allow-read", "--allow-write", "--allow-env"];

interface Expect {
  layers: Array<{ id: string; names: string[] }>;
  images: Array<{ id: string; names: string[]; top: string }>;
  containers: Array<{ id: string; names: string[] }>;
  sharedNames: string[];
  sharedData: Array<{ key: string; size: number }>;
  deleted: string[];
  metadata: Array<{ id: string; metadata: string }>;
}

async function writer(s: TempStore, perms: string[], tag: string, ops: number, shared: string) {
  const r = await run(DENO, [
    "run",
    "--no-check",
    ...perms,
    WRITER,
    "--graph",
    s.graph,
    "--run",
    s.run,
    "--tag",
    tag,
    "--ops",
    String(ops),
    "--shared",
    shared,
  ]);
  assert.equal(r.code, 0, `writer ${tag}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Expect;
}

/** Everything every writer expects is there, nothing it deleted is. */
async function verify(
  s: TempStore,
  shared: string,
  expects: Expect[],
  extra: {
    layers: Array<{ id: string; names: string[] }>;
    images: Array<{ id: string; name: string }>;
    keys: string[];
  },
) {
  const store = await openStore({ graphRoot: s.graph, runRoot: s.run, driver: "vfs" });
  const layers = new Map((await store.layers()).map((l) => [l.id, l]));
  const images = new Map((await store.images()).map((i) => [i.id, i]));
  const containers = new Map((await store.containers()).map((c) => [c.id, c]));
  const sharedImage = images.get(shared)!;
  const keys = new Set(await store.listImageBigData(shared));
  for (const e of expects) {
    for (const l of [...e.layers]) assert.deepEqual(layers.get(l.id)?.names, l.names, l.id);
    for (const i of e.images) {
      assert.deepEqual(images.get(i.id)?.names, i.names);
      assert.equal(images.get(i.id)?.topLayer, i.top);
    }
    for (const c of e.containers) assert.deepEqual(containers.get(c.id)?.names, c.names);
    for (const d of e.deleted) assert.equal(layers.has(d), false, `${d} was deleted`);
    for (const n of e.sharedNames) assert.ok(sharedImage.names.includes(n), `lost name ${n}`);
    for (const d of e.sharedData) {
      assert.ok(keys.has(d.key), `lost big-data item ${d.key}`);
      assert.equal(await store.imageBigDataSize(shared, d.key), d.size);
    }
    const last = new Map(e.metadata.map((m) => [m.id, m.metadata]));
    for (const [id, m] of last) if (layers.has(id)) assert.equal(await store.metadata(id), m);
  }
  for (const l of extra.layers) assert.deepEqual(layers.get(l.id)?.names, l.names, l.id);
  for (const i of extra.images) assert.deepEqual(images.get(i.id)?.names, [i.name], i.id);
  for (const k of extra.keys) assert.ok(keys.has(k), `lost big-data item ${k}`);
  // Every record has its files: a lost update would show here too.
  const report = await store.check({ maxUnreferencedAge: 1e12 });
  assert.deepEqual(report.problems, []);
}

async function sharedImage(s: TempStore): Promise<{ id: string; layer: string }> {
  const layer = firstLine(await ok([...s.flags, "create-layer"]));
  return { id: firstLine(await ok([...s.flags, "create-image", "-n", "shared", layer])), layer };
}

Deno.test("8 cstor processes × 50 mixed writes at once lose nothing (with and without FFI)", async () => {
  const s = await tempStore();
  try {
    const shared = (await sharedImage(s)).id;
    const expects = await Promise.all(
      Array.from(
        { length: 8 },
        (_, i) => writer(s, i % 2 === 0 ? WITH_FFI : WITHOUT_FFI, `w${i}`, 50, shared),
      ),
    );
    assert.ok(expects.reduce((n, e) => n + e.sharedNames.length, 0) >= 8 * 7);
    await verify(s, shared, expects, { layers: [], images: [], keys: [] });
  } finally {
    await s.cleanup();
  }
});

testIf(
  haveGo(),
  NO_GO,
  "cstor processes with FFI and Go containers-storage processes writing at once lose nothing",
  async () => {
    const s = await tempStore();
    try {
      const shared = await sharedImage(s);
      const goLoop = async (i: number) => {
        const made = {
          layers: [] as Array<{ id: string; names: string[] }>,
          images: [] as Array<{ id: string; name: string }>,
          keys: [] as string[],
        };
        for (let j = 0; j < 30; j++) {
          const name = `g${i}-${j}`;
          // Not add-names: Go 1.43 itself loses concurrent add-names (it
          // changes the names it read before taking the lock), even among
          // Go processes alone.
          const args = j % 3 === 0
            ? ["create-layer", "-n", name]
            : j % 3 === 1
            ? ["create-image", "-n", name, shared.layer]
            : ["set-image-data", shared.id, name];
          const r = await goCLI([...s.flags, ...args], j % 3 === 2 ? `data of ${name}` : undefined);
          assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
          if (j % 3 === 0) made.layers.push({ id: firstLine(r.stdout), names: [name] });
          if (j % 3 === 1) made.images.push({ id: firstLine(r.stdout), name });
          if (j % 3 === 2) made.keys.push(name);
        }
        return made;
      };
      const [cstor, go] = await Promise.all([
        Promise.all(
          Array.from({ length: 4 }, (_, i) => writer(s, WITH_FFI, `c${i}`, 35, shared.id)),
        ),
        Promise.all(Array.from({ length: 4 }, (_, i) => goLoop(i))),
      ]);
      await verify(s, shared.id, cstor, {
        layers: go.flatMap((g) => g.layers),
        images: go.flatMap((g) => g.images),
        keys: go.flatMap((g) => g.keys),
      });
      // And Go sees all of it too.
      const goImages = JSON.parse((await goCLI([...s.flags, "images", "--json"])).stdout);
      const names = goImages.find((i: { id: string }) => i.id === shared.id).names;
      for (const e of cstor) for (const n of e.sharedNames) assert.ok(names.includes(n));
    } finally {
      await s.cleanup();
    }
  },
);
