/**
 * The store's rules through the CLI and the API: corrupt files, incomplete
 * layers, change tokens, transient mode, additional stores, duplicate
 * names, stale temporary files, mount counts and shutdown.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { cli, goCLI, haveGo, NO_GO, tempStore, testIf } from "./helpers.ts";
import { openStore } from "../mod.ts";

async function ok(args: string[], stdin?: string): Promise<string> {
  const r = await cli(args, stdin);
  assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

Deno.test("a corrupt layers.json is reported with its path and never overwritten", async () => {
  const s = await tempStore();
  try {
    await ok([...s.flags, "create-layer", "-n", "a"]);
    const file = join(s.graph, "vfs-layers", "layers.json");
    const original = await Deno.readTextFile(file);
    for (
      const bad of [
        original.slice(0, original.length - 5),
        "{not json",
        '{"id":"x"}',
        '[{"id":1}]',
        "[7]",
      ]
    ) {
      await Deno.writeTextFile(file, bad);
      for (
        const args of [["layers"], ["create-layer", "-n", "b"], ["delete-layer", "a"], ["wipe"]]
      ) {
        const r = await cli([...s.flags, ...args]);
        assert.equal(r.code, 1, `${args[0]} on ${bad}`);
        assert.ok((r.stderr + r.stdout).includes(file), `${args[0]}: ${r.stderr}`);
        assert.equal(await Deno.readTextFile(file), bad, "the file was changed");
      }
    }
    await Deno.writeTextFile(file, original);
    assert.match(await ok([...s.flags, "layers"]), /name: a/);
  } finally {
    await s.cleanup();
  }
});

Deno.test("layers flagged incomplete are removed by the next reader, with their contents", async () => {
  const s = await tempStore();
  try {
    const a = (await ok([...s.flags, "create-layer"])).trim();
    const b = (await ok([...s.flags, "create-layer", a])).trim();
    const file = join(s.graph, "vfs-layers", "layers.json");
    const records = JSON.parse(await Deno.readTextFile(file));
    for (const r of records) r.flags = { incomplete: true };
    await Deno.writeTextFile(file, JSON.stringify(records));
    assert.equal(await ok([...s.flags, "layers"]), "");
    assert.equal(await Deno.readTextFile(file), "[]");
    for (const id of [a, b]) {
      await assert.rejects(Deno.stat(join(s.graph, "vfs", "dir", id)));
    }
  } finally {
    await s.cleanup();
  }
});

testIf(
  haveGo(),
  NO_GO,
  "an open store sees changes other processes make (change tokens)",
  async () => {
    const s = await tempStore();
    try {
      const store = await openStore({ graphRoot: s.graph, runRoot: s.run, driver: "vfs" });
      assert.equal((await store.layers()).length, 0);
      const made = await goCLI([...s.flags, "create-layer", "-n", "from-go"]);
      assert.equal(made.code, 0, made.stderr);
      assert.deepEqual((await store.layers()).map((l) => l.names), [["from-go"]]);
      const image = await store.createImage({ topLayer: "from-go", names: ["shared"] });
      assert.match((await goCLI([...s.flags, "images"])).stdout, /name: shared/);
      assert.equal((await goCLI([...s.flags, "set-names", "-n", "renamed", image.id])).code, 0);
      assert.deepEqual((await store.image(image.id))?.names, ["renamed"]);
    } finally {
      await s.cleanup();
    }
  },
);

Deno.test("transient mode keeps containers and their layers under the run root", async () => {
  const s = await tempStore();
  try {
    const flags = [...s.flags, "--transient-store"];
    const layer = (await ok([...flags, "create-layer", "-n", "base"])).trim().split("\n")[0];
    await ok([...flags, "create-image", "-n", "img", layer]);
    const c = (await ok([...flags, "create-container", "-n", "c", "img"])).split("\n")[0];
    const volatileLayers = JSON.parse(
      await Deno.readTextFile(join(s.run, "vfs-layers", "volatile-layers.json")),
    );
    const volatileContainers = JSON.parse(
      await Deno.readTextFile(join(s.run, "vfs-containers", "volatile-containers.json")),
    );
    assert.equal(volatileContainers[0].id, c);
    assert.equal(volatileContainers[0].flags.Volatile, true);
    assert.equal(volatileLayers.length, 1);
    assert.equal(volatileLayers[0].id, volatileContainers[0].layer);
    const stable = JSON.parse(await Deno.readTextFile(join(s.graph, "vfs-layers", "layers.json")));
    assert.deepEqual(stable.map((l: { id: string }) => l.id), [layer]);
    await Deno.stat(join(s.run, "vfs-containers", "containers.lock"));
    // Without --transient-store the volatile files of the run root are not read.
    assert.equal(await ok([...s.flags, "containers"]), "");
    assert.match(await ok([...flags, "containers"]), /name: c/);
  } finally {
    await s.cleanup();
  }
});

Deno.test("volatile containers go to volatile-containers.json in the graph root", async () => {
  const s = await tempStore();
  try {
    await ok([...s.flags, "create-container", "--volatile", "-n", "v", ""]);
    const list = JSON.parse(
      await Deno.readTextFile(join(s.graph, "vfs-containers", "volatile-containers.json")),
    );
    assert.equal(list[0].names[0], "v");
    const layers = JSON.parse(
      await Deno.readTextFile(join(s.graph, "vfs-layers", "volatile-layers.json")),
    );
    assert.equal(layers[0].id, list[0].layer);
  } finally {
    await s.cleanup();
  }
});

testIf(
  haveGo(),
  NO_GO,
  "additional image stores are read, never written, and print like Go's",
  async () => {
    const ro = await tempStore();
    const s = await tempStore();
    try {
      // Another process made the read-only store (one process cannot use a
      // lock file both read-write and read-only, in Go either).
      const made = await goCLI([...ro.flags, "create-layer", "-n", "ro-layer"]);
      const layer = made.stdout.trim().split("\n")[0];
      assert.equal((await goCLI([...ro.flags, "create-image", "-n", "ro-image", layer])).code, 0);
      const roFiles = async () =>
        await Deno.readTextFile(join(ro.graph, "vfs-images", "images.json")) +
        await Deno.readTextFile(join(ro.graph, "vfs-layers", "layers.json"));
      const before = await roFiles();
      const flags = [...s.flags, "--storage-opt", `vfs.imagestore=${ro.graph}`];
      for (
        const args of [["layers"], ["images"], ["image", "ro-image"], ["layer", "ro-layer"], [
          "exists",
          "ro-image",
        ]]
      ) {
        const ours = await cli([...flags, ...args]);
        const go = await goCLI([...flags, ...args]);
        assert.equal(ours.stdout, go.stdout, args.join(" "));
        assert.equal(ours.code, go.code, args.join(" "));
      }
      assert.match(await ok([...flags, "image", "ro-image"]), /Read Only: true/);
      const del = await cli([...flags, "delete-image", "ro-image"]);
      assert.equal(del.code, 1);
      // A container on a read-only image works; its layer goes to the primary store.
      await ok([...flags, "create-container", "-n", "c", "ro-image"]);
      // Renaming a read-only image copies its record into the primary store.
      await ok([...flags, "set-names", "-n", "mine", "ro-image"]);
      assert.match(await ok([...s.flags, "images"]), /name: mine/);
      assert.equal(await roFiles(), before);
    } finally {
      await s.cleanup();
      await ro.cleanup();
    }
  },
);

Deno.test("a name claimed twice on disk stays with the later record, and is saved so", async () => {
  const s = await tempStore();
  try {
    const a = (await ok([...s.flags, "create-layer", "-n", "x"])).trim().split("\n")[0];
    const b = (await ok([...s.flags, "create-layer", "-n", "y"])).trim().split("\n")[0];
    const file = join(s.graph, "vfs-layers", "layers.json");
    const records = JSON.parse(await Deno.readTextFile(file));
    records[0].names = ["x", "dup"];
    records[1].names = ["y", "dup"];
    await Deno.writeTextFile(file, JSON.stringify(records));
    assert.equal(await ok([...s.flags, "get-names", "-j", a]), '["x"]\n');
    assert.equal(await ok([...s.flags, "get-names", "-j", b]), '["y","dup"]\n');
    const saved = JSON.parse(await Deno.readTextFile(file));
    assert.deepEqual(saved.map((r: { names: string[] }) => r.names), [["x"], ["y", "dup"]]);
  } finally {
    await s.cleanup();
  }
});

Deno.test("temporary files left by killed writers are removed by the next writer", async () => {
  const s = await tempStore();
  try {
    await ok([...s.flags, "create-layer"]);
    const stale = join(s.graph, "vfs-layers", ".tmp-layers.json123456");
    await Deno.writeTextFile(stale, "[partial");
    await ok([...s.flags, "layers"]);
    await Deno.stat(stale); // readers leave it alone
    await ok([...s.flags, "create-layer"]);
    await assert.rejects(Deno.stat(stale));
  } finally {
    await s.cleanup();
  }
});

Deno.test("mount counts, forced unmount and shutdown", async () => {
  const s = await tempStore();
  try {
    const layer = (await ok([...s.flags, "create-layer", "-n", "l"])).trim().split("\n")[0];
    const path = join(s.graph, "vfs", "dir", layer);
    assert.equal(await ok([...s.flags, "mount", "l"]), `${path}\n`);
    assert.equal(await ok([...s.flags, "mount", "l"]), `${path}\n`);
    const counts = () =>
      Deno.readTextFile(join(s.run, "vfs-layers", "mountpoints.json")).then(JSON.parse);
    assert.deepEqual(await counts(), [{ id: layer, path, count: 2 }]);
    assert.equal(await ok([...s.flags, "unmount", "l"]), "");
    assert.equal(await ok([...s.flags, "mounted", "l"]), "l mounted\n");
    const sd = await cli([...s.flags, "shutdown"]);
    assert.equal(sd.code, 1);
    assert.equal(sd.stderr, "shutdown: a layer is mounted: layer is in use by a container\n");
    const forced = await cli([...s.flags, "shutdown", "-f"]);
    assert.equal(forced.code, 1, "upstream fails even after unmounting everything");
    assert.deepEqual(await counts(), []);
    assert.equal((await cli([...s.flags, "shutdown", "-j"])).stdout, '""\n');
    assert.equal(await ok([...s.flags, "unmount", "l"]), "l mountpoint unmounted\n");
    const both = await cli([...s.flags, "mount", "-j", "l", "nope"]);
    assert.equal(both.code, 1);
    assert.deepEqual(JSON.parse(both.stdout), [
      { id: "l", mountpoint: path, error: "" },
      { id: "nope", mountpoint: "", error: "layer not known" },
    ]);
  } finally {
    await s.cleanup();
  }
});

Deno.test("wipe removes everything and leaves a usable store", async () => {
  const s = await tempStore();
  try {
    const a = (await ok([...s.flags, "create-layer"])).trim();
    const b = (await ok([...s.flags, "create-layer", a])).trim();
    await ok([...s.flags, "create-image", "-n", "i", b]);
    await ok([...s.flags, "create-container", "-n", "c", "i"]);
    assert.equal(await ok([...s.flags, "wipe", "-j"]), '""\n');
    assert.equal(await ok([...s.flags, "layers"]), "");
    assert.equal(await ok([...s.flags, "images"]), "");
    assert.equal(await ok([...s.flags, "containers"]), "");
    assert.deepEqual([...Deno.readDirSync(join(s.graph, "vfs", "dir"))], []);
    await ok([...s.flags, "create-layer"]);
  } finally {
    await s.cleanup();
  }
});
