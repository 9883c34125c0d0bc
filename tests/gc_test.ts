/**
 * Garbage collection: everything no record names goes (container
 * directories, driver layer directories, tar-split files, layer big data,
 * staging directories of dead processes), everything a record names stays
 * byte for byte, in normal and in transient mode after a "reboot".
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  cli,
  goCLI,
  haveGo,
  NO_GO,
  overlayUnavailable,
  type TempStore,
  tempStore,
  testIf,
} from "./helpers.ts";
import { createStagingDir } from "../src/drivers/staging.ts";
import {
  baseEntries,
  childEntries,
  firstLine,
  hexID,
  ok,
  records,
  snapshot,
  tarBytes,
} from "./fixtures/robustness/util.ts";

/** Layers with contents, an image and a container with data and both directories. */
async function populate(s: TempStore, extra: string[] = []): Promise<Record<string, string>> {
  const flags = [...s.flags, ...extra];
  const base = firstLine(await ok([...flags, "import-layer"], await tarBytes(baseEntries())));
  const child = firstLine(
    await ok([...flags, "import-layer", base], await tarBytes(childEntries())),
  );
  await ok([...flags, "set-layer-data", child, "note"], "layer data");
  const image = firstLine(await ok([...flags, "create-image", "-n", "img", child]));
  await ok([...flags, "set-image-data", image, "manifest"], '{"schemaVersion":2}');
  const container = firstLine(await ok([...flags, "create-container", "-n", "box", image]));
  await ok([...flags, "set-container-data", container, "config"], "container config");
  const dir = (await ok([...flags, "get-container-dir", container])).trim();
  const runDir = (await ok([...flags, "get-container-run-dir", container])).trim();
  await Deno.writeTextFile(join(dir, "state"), "kept");
  await Deno.writeTextFile(join(runDir, "pid"), "1");
  return { base, child, image, container };
}

/** Leftovers of every kind gc removes; returns their paths. */
async function plantOrphans(s: TempStore): Promise<string[]> {
  const id = hexID();
  const paths = [
    join(s.graph, "vfs", "dir", id),
    join(s.graph, "vfs", "dir", "caller-named-layer"),
    join(s.graph, "vfs-layers", `${hexID()}.tar-split.gz`),
    join(s.graph, "vfs-layers", hexID()),
    join(s.graph, "vfs-containers", hexID()),
    join(s.run, "vfs-containers", hexID()),
    join(s.graph, "vfs", "cstor-staging", crypto.randomUUID()),
  ];
  for (const p of paths) {
    if (p.endsWith(".gz")) {
      await Deno.writeTextFile(p, "orphan");
    } else {
      await Deno.mkdir(join(p, "sub"), { recursive: true });
      await Deno.writeTextFile(join(p, "sub", "file"), "orphan");
    }
  }
  return paths;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("gc removes what no record names and nothing a record names", async () => {
  const s = await tempStore();
  try {
    await populate(s);
    const before = await snapshot(s.dir);
    const orphans = await plantOrphans(s);
    // A staging directory whose owner is alive (its lock is held) stays.
    const live = await createStagingDir(join(s.graph, "vfs"));
    try {
      const r = await cli([...s.flags, "gc", "-j"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '""\n');
      for (const p of orphans) assert.equal(await exists(p), false, `${p} survived gc`);
      assert.equal(await exists(live.dir), true, "a live staging directory was removed");
    } finally {
      live.release();
    }
    const after = await snapshot(s.dir);
    after.delete("graph/vfs/cstor-staging");
    for (const p of [...after.keys()]) {
      if (p.startsWith(`graph/vfs/cstor-staging/`)) after.delete(p);
    }
    before.delete("graph/vfs/cstor-staging");
    assert.deepEqual(after, before);
    // The released staging directory is garbage now; a clean store checks clean.
    await ok([...s.flags, "gc"]);
    assert.equal(await exists(live.dir), false);
    await ok([...s.flags, "check"]);
  } finally {
    await s.cleanup();
  }
});

Deno.test("gc after a reboot of a transient store removes containers' leftovers only", async () => {
  const s = await tempStore();
  try {
    const t = ["--transient-store"];
    const ids = await populate(s, t);
    const layerOfContainer = JSON.parse(
      await ok([...s.flags, ...t, "container", "--json", ids.container]),
    )[0].layer;
    assert.equal(await exists(join(s.graph, "vfs", "dir", layerOfContainer)), true);
    // The reboot: the run root (a tmpfs) is gone, with the volatile records.
    await Deno.remove(s.run, { recursive: true });
    const imageLayers = [ids.base, ids.child];
    await ok([...s.flags, ...t, "gc"]);
    assert.equal(await exists(join(s.graph, "vfs", "dir", layerOfContainer)), false);
    assert.equal(await exists(join(s.graph, "vfs-containers", ids.container)), false);
    for (const l of imageLayers) assert.equal(await exists(join(s.graph, "vfs", "dir", l)), true);
    assert.equal(firstLine(await ok([...s.flags, ...t, "images", "-q"])), ids.image);
    assert.equal(await ok([...s.flags, ...t, "containers"]), "");
    assert.equal(
      await ok([...s.flags, ...t, "get-layer-data", ids.child, "note"]),
      "layer data",
    );
    await ok([...s.flags, ...t, "check"]);
  } finally {
    await s.cleanup();
  }
});

Deno.test("gc shuts the driver down afterwards, as upstream's gc does", async () => {
  const s = await tempStore();
  try {
    const layer = firstLine(await ok([...s.flags, "create-layer"]));
    await ok([...s.flags, "mount", layer]);
    const r = await cli([...s.flags, "gc"]);
    assert.equal(r.code, 0);
    assert.equal(r.stderr, "shutdown: a layer is mounted: layer is in use by a container\n");
    assert.equal(await ok([...s.flags, "mounted", layer]), "");
    assert.deepEqual(await records(join(s.run, "vfs-layers", "mountpoints.json")), []);
    assert.equal(await exists(join(s.graph, "vfs", "dir", layer)), true);
  } finally {
    await s.cleanup();
  }
});

testIf(haveGo(), NO_GO, "gc keeps everything of a store the Go CLI wrote", async () => {
  const s = await tempStore();
  try {
    const go = async (args: string[], stdin?: Uint8Array) => {
      const r = await goCLI([...s.flags, ...args], stdin);
      assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
      return r.stdout;
    };
    const base = firstLine(await go(["create-layer"]));
    await go(["applydiff", base], await tarBytes(baseEntries()));
    const image = firstLine(await go(["create-image", "-n", "goimg", base]));
    const container = firstLine(await go(["create-container", "-n", "gobox", image]));
    await go(["get-container-dir", container]);
    const before = await snapshot(s.graph);
    await ok([...s.flags, "gc"]);
    assert.deepEqual(await snapshot(s.graph), before);
    assert.match(await go(["containers"]), /gobox/);
    await ok([...s.flags, "check"]);
  } finally {
    await s.cleanup();
  }
});

const noOverlay = await overlayUnavailable();

testIf(
  noOverlay === "",
  noOverlay,
  "overlay: gc removes unnamed layer directories, check finds none after",
  async () => {
    const s = await tempStore("overlay");
    try {
      const base = firstLine(await ok([...s.flags, "import-layer"], await tarBytes(baseEntries())));
      const image = firstLine(await ok([...s.flags, "create-image", "-n", "img", base]));
      const container = firstLine(await ok([...s.flags, "create-container", "-n", "box", image]));
      await ok([...s.flags, "mount", container]);
      const orphan = join(s.graph, "overlay", hexID());
      await Deno.mkdir(join(orphan, "diff"), { recursive: true });
      const r = await cli([...s.flags, "check", "-j", "-q"]);
      assert.deepEqual(Object.keys(JSON.parse(r.stdout).Layers), [orphan.split("/").pop()]);
      const before = await snapshot(join(s.graph, "overlay-layers"));
      const gc = await cli([...s.flags, "gc"]);
      assert.equal(gc.code, 0, gc.stderr);
      assert.equal(await exists(orphan), false);
      assert.deepEqual(await snapshot(join(s.graph, "overlay-layers")), before);
      await ok([...s.flags, "check"]);
      assert.match(await ok([...s.flags, "containers"]), /box/);
    } finally {
      await cli([...s.flags, "shutdown", "-f"]);
      await s.cleanup();
    }
  },
);
