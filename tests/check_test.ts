/**
 * check and repair: a healthy store (cstor- and Go-made layers, whiteouts,
 * hard links, ID maps) checks clean; every kind of damage is reported in
 * upstream's wording with exit 1 and the count summary; repair removes
 * exactly the damaged and what depends on it (containers only with
 * --force) and leaves the rest byte for byte.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  cli,
  cstorProcess,
  goCLI,
  haveGo,
  NO_GO,
  type TempStore,
  tempStore,
  testIf,
} from "./helpers.ts";
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

interface Healthy {
  s: TempStore;
  base: string;
  child: string;
  image: string;
  container: string;
  /** A layer no image or container uses, with an image of its own on a sibling. */
  lone: string;
  other: string;
  otherImage: string;
}

/** base ← child ← image ← container, plus an unrelated image and a lone layer. */
async function healthy(): Promise<Healthy> {
  const s = await tempStore();
  const f = s.flags;
  const base = firstLine(await ok([...f, "import-layer"], await tarBytes(baseEntries())));
  const child = firstLine(await ok([...f, "import-layer", base], await tarBytes(childEntries())));
  await ok([...f, "set-layer-data", child, "note"], "layer data");
  const image = firstLine(await ok([...f, "create-image", "-n", "img", child]));
  await ok([...f, "set-image-data", image, "manifest"], '{"schemaVersion":2}');
  const container = firstLine(await ok([...f, "create-container", "-n", "box", image]));
  await ok([...f, "set-container-data", container, "config"], "container config");
  const other = firstLine(
    await ok([...f, "import-layer"], await tarBytes([{ name: "other", content: "o" }])),
  );
  const otherImage = firstLine(await ok([...f, "create-image", "-n", "other", other]));
  const lone = firstLine(await ok([...f, "create-layer", "-n", "lone"]));
  return { s, base, child, image, container, lone, other, otherImage };
}

/** Runs `check` with `args`; returns exit code, report groups and stderr. */
async function check(s: TempStore, ...args: string[]) {
  const r = await cli([...s.flags, "check", "-j", ...args]);
  return { code: r.code, groups: JSON.parse(r.stdout), stderr: r.stderr };
}

const EMPTY = { Layers: {}, ROLayers: {}, Images: {}, ROImages: {}, Containers: {} };

function summary(l: number, i: number, c: number): string {
  return `${l} layer errors, 0 read-only layer errors, ${i} image errors, ` +
    `0 read-only image errors, ${c} container errors\n`;
}

/** A layer's record in layers.json, changed by `edit`. */
async function editRecord(
  path: string,
  id: string,
  edit: (r: Record<string, unknown>) => void,
): Promise<void> {
  const all = await records(path);
  const r = all.find((x) => x.id === id);
  assert.ok(r, `${id} not in ${path}`);
  edit(r);
  await Deno.writeTextFile(path, JSON.stringify(all));
}

Deno.test("a healthy store checks clean, in full and quick mode", async () => {
  const h = await healthy();
  try {
    const f = h.s.flags;
    // An ID-mapped layer: its files are owned by mapped host IDs.
    await ok(
      [...f, "import-layer", "--uidmap", "0:100000:65536", "--gidmap", "0:200000:65536"],
      await tarBytes(baseEntries()),
    );
    for (const args of [[], ["-q"]]) {
      const r = await cli([...f, "check", ...args]);
      assert.deepEqual([r.code, r.stdout, r.stderr], [0, "", ""], args.join(" "));
    }
    assert.deepEqual(await check(h.s), { code: 0, groups: EMPTY, stderr: "" });
  } finally {
    await h.s.cleanup();
  }
});

testIf(haveGo(), NO_GO, "layers the Go CLI applied check clean", async () => {
  const s = await tempStore();
  try {
    const go = async (args: string[], stdin?: Uint8Array) => {
      const r = await goCLI([...s.flags, ...args], stdin);
      assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
      return firstLine(r.stdout);
    };
    const base = await go(["create-layer"]);
    await go(["applydiff", base], await tarBytes(baseEntries()));
    const child = await go(["create-layer", base]);
    await go(["applydiff", child], await tarBytes(childEntries()));
    await go(["create-image", child]);
    assert.deepEqual(await check(s), { code: 0, groups: EMPTY, stderr: "" });
  } finally {
    await s.cleanup();
  }
});

Deno.test("changed layer contents: reported for the layer, its images and their containers", async () => {
  const h = await healthy();
  try {
    const hosts = join(h.s.graph, "vfs", "dir", h.base, "etc", "hosts");
    const old = await Deno.readTextFile(hosts);
    await Deno.writeTextFile(hosts, old.toUpperCase()); // same size, other bytes
    const problem = `layer ${h.base}: file integrity checksum failed for "etc/hosts"`;
    const r = await check(h.s);
    assert.deepEqual(r.groups, {
      ...EMPTY,
      Layers: { [h.base]: [problem] },
      Images: { [h.image]: [`image ${h.image}: ${problem}`] },
      Containers: { [h.container]: [`container ${h.container}: image ${h.image}: ${problem}`] },
    });
    assert.equal(r.code, 1);
    assert.equal(r.stderr, summary(1, 1, 1));
    // The quick check does not regenerate diffs.
    assert.equal((await check(h.s, "-q")).code, 0);

    // Text output: `kind id:` then the problems, one space in.
    const text = await cli([...h.s.flags, "check"]);
    assert.equal(
      text.stdout,
      `layer ${h.base}:\n ${problem}\nimage ${h.image}:\n image ${h.image}: ${problem}\n` +
        `container ${h.container}:\n container ${h.container}: image ${h.image}: ${problem}\n`,
    );

    // Without --force the container stays, so its image and layers cannot go.
    const keep = await snapshot(join(h.s.graph, "vfs", "dir", h.other));
    const noForce = await cli([...h.s.flags, "check", "-r"]);
    assert.equal(noForce.code, 1);
    assert.match(noForce.stderr, /image is in use by a container/);
    assert.match(await ok([...h.s.flags, "containers"]), /box/);

    // With --force: the container, the image, and the damaged layers go.
    await ok([...h.s.flags, "check", "-f", "-m", "100000h"]);
    assert.equal(await ok([...h.s.flags, "containers"]), "");
    assert.deepEqual(
      (await ok([...h.s.flags, "images", "-q"])).trim().split("\n"),
      [h.otherImage],
    );
    const layers = JSON.parse(await ok([...h.s.flags, "layers", "--json"]))
      .map((l: { id: string }) => l.id).sort();
    assert.deepEqual(layers, [h.other, h.lone].sort());
    assert.deepEqual(await snapshot(join(h.s.graph, "vfs", "dir", h.other)), keep);
    assert.deepEqual(await check(h.s), { code: 0, groups: EMPTY, stderr: "" });
  } finally {
    await h.s.cleanup();
  }
});

Deno.test("tree changes the diff does not cover: extra files, modes, owners, vanished entries", async () => {
  const h = await healthy();
  try {
    const dir = join(h.s.graph, "vfs", "dir", h.child);
    await Deno.writeTextFile(join(dir, "extra"), "not from any diff");
    await Deno.chmod(join(dir, "etc", "empty"), 0o600);
    await Deno.chown(join(dir, "home", "user", "notes"), 7, 0);
    await Deno.remove(join(dir, "usr", "bin", "link"));
    await Deno.remove(join(dir, "var", "cache", "old"));
    const msg = (m: string) => `layer ${h.child}: ${m}, layer content modified`;
    const { code, groups } = await check(h.s);
    assert.equal(code, 1);
    assert.deepEqual(groups.Layers[h.child].sort(), [
      msg(`"/etc/empty": mode:0640→0600`),
      msg(`"/extra": unexpected`),
      msg(`"/home/user/notes": uid:0→7`),
      msg(`"/usr/bin/link": missing`),
      msg(`"/var/cache/old": missing`),
    ]);
    assert.deepEqual(Object.keys(groups.Layers), [h.child]);
    assert.equal((await check(h.s, "-q")).code, 0);
  } finally {
    await h.s.cleanup();
  }
});

Deno.test("records that disagree with the disk or with each other", async (t) => {
  const cases: Array<{
    name: string;
    damage: (h: Healthy) => Promise<void>;
    expect: (h: Healthy) => Record<string, Record<string, string[]>>;
    quickToo: boolean;
  }> = [
    {
      name: "a recorded diff-digest the contents do not have",
      damage: (h) =>
        editRecord(join(h.s.graph, "vfs-layers", "layers.json"), h.other, (r) => {
          r["diff-digest"] = `sha256:${"0".repeat(64)}`;
        }),
      expect: (h) => ({
        Layers: { [h.other]: [`layer ${h.other}: layer content incorrect digest`] },
        Images: {
          [h.otherImage]: [
            `image ${h.otherImage}: layer ${h.other}: layer content incorrect digest`,
          ],
        },
      }),
      quickToo: false,
    },
    {
      name: "a layer directory deleted behind the store's back",
      damage: (h) => Deno.remove(join(h.s.graph, "vfs", "dir", h.other), { recursive: true }),
      expect: (h) => ({
        Layers: { [h.other]: [`layer ${h.other}: vfs layer contents are missing`] },
        Images: {
          [h.otherImage]: [
            `image ${h.otherImage}: layer ${h.other}: vfs layer contents are missing`,
          ],
        },
      }),
      quickToo: true,
    },
    {
      name: "an image naming a missing layer, a container naming a missing image and layer",
      damage: async (h) => {
        const c = firstLine(await ok([...h.s.flags, "create-container", "-n", "c2", "other"]));
        await editRecord(join(h.s.graph, "vfs-images", "images.json"), h.otherImage, (r) => {
          r.layer = "f".repeat(64);
        });
        await editRecord(join(h.s.graph, "vfs-containers", "containers.json"), c, (r) => {
          r.image = "e".repeat(64);
          r.layer = "d".repeat(64);
        });
        h.lone = c; // remember the container's ID for expect()
      },
      expect: (h) => ({
        Images: {
          [h.otherImage]: [
            `image ${h.otherImage}: layer ${"f".repeat(64)}: image layer is missing`,
          ],
        },
        Containers: {
          [h.lone]: [
            `container ${h.lone}: image ${"e".repeat(64)}: image missing`,
            `container ${h.lone}: layer ${"d".repeat(64)}: layer is missing`,
          ],
        },
      }),
      quickToo: true,
    },
    {
      name: "big-data items missing or resized",
      damage: async (h) => {
        await Deno.remove(join(h.s.graph, "vfs-images", h.image, "manifest"));
        await Deno.writeTextFile(join(h.s.graph, "vfs-containers", h.container, "config"), "x");
        await Deno.remove(join(h.s.graph, "vfs-layers", h.child, "note"));
      },
      expect: (h) => {
        const layer = `layer ${h.child}: data item "note": layer data item is missing`;
        const image = `image ${h.image}: data item "manifest": image data item is missing`;
        return {
          Layers: { [h.child]: [layer] },
          Images: { [h.image]: [image, `image ${h.image}: ${layer}`] },
          Containers: {
            [h.container]: [
              `container ${h.container}: data item "config": container data item has incorrect size`,
              `container ${h.container}: ${image}`,
              `container ${h.container}: image ${h.image}: ${layer}`,
            ],
          },
        };
      },
      quickToo: true,
    },
    {
      name: "a layer whose parent record is gone; old layers nothing uses",
      damage: async (h) => {
        const file = join(h.s.graph, "vfs-layers", "layers.json");
        await Deno.writeTextFile(
          file,
          JSON.stringify((await records(file)).filter((r) => r.id !== h.base)),
        );
        await editRecord(file, h.lone, (r) => (r.created = "2001-01-01T00:00:00Z"));
      },
      expect: (h) => ({
        Layers: {
          [h.child]: [`layer ${h.child}: layer ${h.base}: layer is missing`],
          [h.lone]: [`layer ${h.lone}: layer not referenced by any images or containers`],
          [h.base]: [`layer ${h.base}: layer in lower level storage driver not accounted for`],
        },
        Images: {
          [h.image]: [
            `image ${h.image}: layer ${h.child}: layer ${h.base}: layer is missing`,
            `image ${h.image}: layer ${h.base}: image layer is missing`,
          ],
        },
        Containers: {
          [h.container]: [
            `container ${h.container}: image ${h.image}: layer ${h.child}: layer ${h.base}: layer is missing`,
            `container ${h.container}: image ${h.image}: layer ${h.base}: image layer is missing`,
          ],
        },
      }),
      quickToo: true,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const h = await healthy();
      try {
        await c.damage(h);
        const want = { ...EMPTY, ...c.expect(h) };
        const full = await check(h.s);
        assert.deepEqual(full.groups, want);
        assert.equal(full.code, 1);
        if (c.quickToo) assert.deepEqual((await check(h.s, "-q")).groups, want);
        // Repair with --force leaves a store that checks clean.
        await ok([...h.s.flags, "check", "-f"]);
        assert.deepEqual(await check(h.s), { code: 0, groups: EMPTY, stderr: "" });
      } finally {
        await h.s.cleanup();
      }
    });
  }
});

Deno.test("leftovers no record names, and mount counts of unknown layers", async () => {
  const h = await healthy();
  try {
    const g = h.s.graph;
    const ids = [hexID(), hexID(), hexID(), hexID(), hexID()];
    await Deno.mkdir(join(g, "vfs", "dir", ids[0]));
    await Deno.writeTextFile(join(g, "vfs-layers", `${ids[1]}.tar-split.gz`), "x");
    await Deno.mkdir(join(g, "vfs-images", ids[2]));
    await Deno.mkdir(join(g, "vfs-containers", ids[3]));
    const mounts = join(h.s.run, "vfs-layers", "mountpoints.json");
    await Deno.writeTextFile(mounts, JSON.stringify([{ id: ids[4], path: "/nowhere", count: 2 }]));
    const { code, groups } = await check(h.s, "-q");
    assert.equal(code, 1);
    assert.deepEqual(groups, {
      ...EMPTY,
      Layers: {
        [ids[0]]: [`layer ${ids[0]}: layer in lower level storage driver not accounted for`],
        [ids[1]]: [
          `layer ${ids[1]}: tar-split file ${
            join(g, "vfs-layers", `${ids[1]}.tar-split.gz`)
          } belongs to no layer`,
        ],
        [ids[4]]: [
          `layer ${ids[4]}: mount count 2 recorded in ${mounts} for a layer that does not exist`,
        ],
      },
      Images: {
        [ids[2]]: [
          `image ${ids[2]}: data directory ${join(g, "vfs-images", ids[2])} belongs to no image`,
        ],
      },
      Containers: {
        [ids[3]]: [
          `container ${ids[3]}: directory ${
            join(g, "vfs-containers", ids[3])
          } belongs to no container`,
        ],
      },
    });
    const before = await snapshot(h.s.dir);
    // Repair needs no --force for these: no container is removed.
    await ok([...h.s.flags, "check", "-r", "-q"]);
    assert.deepEqual(await records(mounts), []);
    const after = await snapshot(h.s.dir);
    const gone = [...before.keys()].filter((p) => !after.has(p));
    assert.deepEqual(
      gone.sort(),
      [
        `graph/vfs-containers/${ids[3]}`,
        `graph/vfs-images/${ids[2]}`,
        `graph/vfs-layers/${ids[1]}.tar-split.gz`,
        `graph/vfs/dir/${ids[0]}`,
      ].sort(),
    );
    assert.deepEqual(await check(h.s), { code: 0, groups: EMPTY, stderr: "" });
  } finally {
    await h.s.cleanup();
  }
});

Deno.test("unreferenced layers are reported only past --max", async () => {
  const s = await tempStore();
  try {
    const layer = firstLine(await ok([...s.flags, "create-layer"]));
    assert.equal((await check(s)).code, 0);
    await new Promise((r) => setTimeout(r, 20));
    const r = await check(s, "-m", "10ms");
    assert.deepEqual(r.groups.Layers, {
      [layer]: [`layer ${layer}: layer not referenced by any images or containers`],
    });
    for (
      const [bad, msg] of [["soon", 'time: invalid duration "soon"'], [
        "5",
        'time: missing unit in duration "5"',
      ]]
    ) {
      const e = await cli([...s.flags, "check", "-m", bad]);
      assert.deepEqual([e.code, e.stderr], [1, `${msg}\n`]);
    }
  } finally {
    await s.cleanup();
  }
});

Deno.test("problems of a read-only additional store are reported and never repaired", async () => {
  const ro = await tempStore();
  const s = await tempStore();
  try {
    const layer = firstLine(await ok([...ro.flags, "import-layer"], await tarBytes(baseEntries())));
    const image = firstLine(await ok([...ro.flags, "create-image", "-n", "ro", layer]));
    await ok([...ro.flags, "set-image-data", image, "manifest"], "{}");
    await Deno.remove(join(ro.graph, "vfs-images", image, "manifest"));
    const before = await snapshot(ro.dir);
    const flags = [...s.flags, "--storage-opt", `vfs.imagestore=${ro.graph}`];
    // Another process: this one has the additional store's lock open read-write.
    const r = await cstorProcess([...flags, "check", "-r"]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stdout,
      `read-only image ${image}:\n read-only image ${image}: data item "manifest": image data item is missing\n`,
    );
    assert.equal(
      r.stderr,
      "0 read-only layer errors, 1 read-only image errors, 0 container errors\n",
    );
    assert.deepEqual(await snapshot(ro.dir), before);
  } finally {
    await ro.cleanup();
    await s.cleanup();
  }
});
