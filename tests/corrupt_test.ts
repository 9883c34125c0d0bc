/**
 * Corrupt stores: truncated or invalid record files, records whose IDs
 * would name paths outside the store, layer directories deleted behind the
 * store's back, lock files that cannot be used. Every command fails with an
 * error naming the file and what is wrong, nothing in the store is
 * changed, nothing outside it is touched, and `check --repair` fixes what
 * can be fixed.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  cli,
  cstorProcess,
  overlayUnavailable,
  type TempStore,
  tempStore,
  testIf,
} from "./helpers.ts";
import {
  baseEntries,
  firstLine,
  ok,
  records,
  snapshot,
  tarBytes,
} from "./fixtures/robustness/util.ts";

/** A small store with a layer, an image with data and a container. */
async function populated(): Promise<
  { s: TempStore; layer: string; image: string; container: string }
> {
  const s = await tempStore();
  const layer = firstLine(
    await ok([...s.flags, "import-layer", "-n", "base"], await tarBytes(baseEntries())),
  );
  const image = firstLine(await ok([...s.flags, "create-image", "-n", "img", layer]));
  await ok([...s.flags, "set-image-data", image, "manifest"], "{}");
  const container = firstLine(await ok([...s.flags, "create-container", "-n", "box", image]));
  return { s, layer, image, container };
}

/** Commands reading and writing every store; each must fail on a corrupt file. */
function commands(ids: { layer: string; image: string; container: string }): string[][] {
  return [
    ["layers"],
    ["images"],
    ["containers"],
    ["create-layer", "-n", "new"],
    ["create-image", "-n", "new", ids.layer],
    ["create-container", "-n", "new", ids.image],
    ["set-names", "-n", "renamed", ids.image],
    ["delete-container", ids.container],
    ["delete-image", ids.image],
    ["delete-layer", ids.layer],
    ["delete", ids.layer],
    ["wipe"],
    ["gc"],
    ["check"],
    ["check", "-r", "-f"],
  ];
}

/** Which commands touch which file (the others may succeed). */
function touches(file: string, args: string[]): boolean {
  const cmd = args[0];
  if (["wipe", "gc", "check", "delete", "create-container", "delete-container"].includes(cmd)) {
    // gc loads containers and layers, check and the deletes load all three.
    return cmd !== "gc" || !file.includes("images");
  }
  if (file.includes("layers")) {
    return ["layers", "create-layer", "create-image", "delete-layer", "delete-image"].includes(cmd);
  }
  if (file.includes("images")) {
    return ["images", "create-image", "set-names", "delete-image", "delete-layer"].includes(cmd);
  }
  return ["containers", "create-layer", "delete-image", "delete-layer"].includes(cmd);
}

Deno.test("truncated or invalid record files: a clear error naming the file, and nothing changes", async (t) => {
  const { s, layer, image, container } = await populated();
  try {
    const files = [
      join(s.graph, "vfs-layers", "layers.json"),
      join(s.graph, "vfs-images", "images.json"),
      join(s.graph, "vfs-containers", "containers.json"),
    ];
    for (const file of files) {
      const original = await Deno.readTextFile(file);
      // The last one is a record with an unusable ID, which repair drops.
      const bads: Array<[string, RegExp, boolean]> = [
        [original.slice(0, Math.floor(original.length / 2)), /invalid JSON/, false],
        ["{not json", /invalid JSON/, false],
        ['{"id":"x"}', /expected a JSON array of records/, false],
        ["[7]", /record 0 is not a JSON object/, false],
        [JSON.stringify([...JSON.parse(original), { id: 1 }]), /record \d+: /, true],
      ];
      for (const [bad, why, repairable] of bads) {
        await t.step(
          `${file.split("/").slice(-1)[0]}: ${JSON.stringify(bad).slice(0, 30)}`,
          async () => {
            await Deno.writeTextFile(file, bad);
            const before = await snapshot(s.dir);
            for (const args of commands({ layer, image, container })) {
              if (!touches(file, args) || (repairable && args.includes("-r"))) continue;
              const r = await cli([...s.flags, ...args]);
              const out = r.stderr + r.stdout;
              assert.equal(r.code, 1, `${args.join(" ")} succeeded on a corrupt ${file}`);
              assert.ok(out.includes(JSON.stringify(file)), `${args.join(" ")}: ${out}`);
              assert.match(out, why, args.join(" "));
              assert.deepEqual(
                await snapshot(s.dir),
                before,
                `${args.join(" ")} changed the store`,
              );
            }
            const r = await cli([...s.flags, "check", "-r"]);
            if (repairable) {
              assert.match(r.stderr, /dropped record \d+: ID is not a string/);
              for (const e of Deno.readDirSync(join(file, ".."))) {
                if (e.name.includes(".bad-")) Deno.removeSync(join(file, "..", e.name));
              }
            } else {
              assert.match(r.stderr, /check --repair cannot fix this file/);
              assert.equal(await Deno.readTextFile(file), bad);
            }
          },
        );
      }
      await Deno.writeTextFile(file, original);
    }
    await ok([...s.flags, "check"]);
  } finally {
    await s.cleanup();
  }
});

Deno.test("records whose IDs would name paths outside the store: refused, and repair drops them", async () => {
  const { s, layer, image } = await populated();
  // What a bad ID could reach: the store's parent, where this sentinel lives.
  const sentinel = join(s.dir, "outside");
  await Deno.mkdir(join(sentinel, "inner"), { recursive: true });
  await Deno.writeTextFile(join(sentinel, "inner", "keep"), "keep me");
  try {
    const bad = ["", "..", ".", "../../../outside", "a/../../../../outside", "/abs/path"];
    const plant = [
      { file: join(s.graph, "vfs-layers", "layers.json"), extra: {} },
      { file: join(s.graph, "vfs-images", "images.json"), extra: { layer } },
      { file: join(s.graph, "vfs-containers", "containers.json"), extra: { image, layer } },
    ];
    for (const { file, extra } of plant) {
      const original = await records(file);
      for (const id of bad) {
        await Deno.writeTextFile(
          file,
          JSON.stringify([...original, { id, created: "2024-01-01T00:00:00Z", ...extra }]),
        );
        const before = await snapshot(s.dir);
        for (
          const args of [
            ["wipe"],
            ["gc"],
            ["delete", id || "x"],
            ["check"],
            ["layers"],
            ["images"],
            ["containers"],
          ]
        ) {
          const r = await cli([...s.flags, ...args]);
          const out = r.stderr + r.stdout;
          if (r.code === 0) continue; // a command that does not read this file
          assert.ok(
            out.includes(JSON.stringify(file)),
            `${args[0]} with id ${JSON.stringify(id)}: ${out}`,
          );
          assert.match(out, new RegExp(`record ${original.length}: `));
        }
        assert.deepEqual(
          await snapshot(s.dir),
          before,
          `an ID ${JSON.stringify(id)} changed the store`,
        );
        assert.equal(await Deno.readTextFile(join(sentinel, "inner", "keep")), "keep me");
      }
      // Repair drops the bad record (keeping the file's old content beside
      // it) and nothing else; the store works again.
      const r = await cli([...s.flags, "check", "-r"]);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.match(
        r.stderr,
        new RegExp(`dropped record ${original.length}: .*previous content in`),
      );
      assert.deepEqual(await records(file), original);
      const backups = [...Deno.readDirSync(join(file, ".."))].filter((e) =>
        e.name.includes(".json.bad-")
      );
      assert.equal(backups.length, 1);
      await Deno.remove(join(file, "..", backups[0].name));
      await ok([...s.flags, "check"]);
    }
    assert.match(await ok([...s.flags, "containers"]), /box/);
  } finally {
    await s.cleanup();
  }
});

Deno.test("a layer directory deleted behind the store's back: clear errors, repair removes what used it", async () => {
  const { s, layer, image } = await populated();
  try {
    await Deno.remove(join(s.graph, "vfs", "dir", layer), { recursive: true });
    const mount = await cli([...s.flags, "mount", layer]);
    assert.equal(mount.code, 1);
    assert.match(mount.stderr, new RegExp(`${layer}.*is missing`));
    const diff = await cli([...s.flags, "diff", layer]);
    assert.equal(diff.code, 1);
    const r = await cli([...s.flags, "check", "-q"]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, new RegExp(`layer ${layer}: vfs layer contents are missing`));
    await ok([...s.flags, "check", "-f", "-q"]);
    assert.equal(await ok([...s.flags, "images"]), "");
    assert.equal(await ok([...s.flags, "containers"]), "");
    assert.equal(await ok([...s.flags, "layers"]), "");
    assert.ok(!image.includes("/"));
  } finally {
    await s.cleanup();
  }
});

Deno.test("lock files that cannot be used: a clear error naming them, fast", async (t) => {
  const cases: Array<{
    name: string;
    make(lock: string, s: TempStore): Promise<void>;
    undo?(lock: string): Promise<void>;
    why: RegExp;
  }> = [
    {
      name: "a dangling symlink into a missing directory",
      make: (lock, s) => Deno.symlink(join(s.dir, "gone", "deeper", "layers.lock"), lock),
      why: /is a dangling symlink/,
    },
    {
      name: "a directory",
      make: (lock) => Deno.mkdir(lock),
      why: /is a directory/,
    },
    {
      name: "a FIFO",
      make: async (lock) => {
        const r = await new Deno.Command("mkfifo", { args: [lock] }).output();
        assert.equal(r.code, 0);
      },
      why: /is not a regular file/,
    },
    {
      // Root may open any file, except one marked immutable.
      name: "a file nobody may open for writing",
      make: async (lock) => {
        await Deno.writeTextFile(lock, "");
        const r = await new Deno.Command("chattr", { args: ["+i", lock] }).output();
        assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
      },
      undo: async (lock) => {
        await new Deno.Command("chattr", { args: ["-i", lock] }).output();
      },
      why: /cannot be opened: permission denied|Operation not permitted/,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const s = await tempStore();
      const lock = join(s.graph, "vfs-layers", "layers.lock");
      try {
        await ok([...s.flags, "create-layer", "-n", "a"]);
        await Deno.remove(lock);
        await c.make(lock, s);
        const before = await snapshot(s.dir);
        const started = performance.now();
        // A separate process: this one already holds an object for that path.
        const r = await cstorProcess([...s.flags, "layers"]);
        assert.ok(performance.now() - started < 10_000, "took too long");
        assert.equal(r.code, 1);
        const out = r.stdout + r.stderr;
        assert.ok(out.includes(JSON.stringify(lock)), out);
        assert.match(out, c.why);
        assert.deepEqual(await snapshot(s.dir), before);
        await assert.rejects(Deno.lstat(join(s.dir, "gone")));
      } finally {
        await c.undo?.(lock);
        await s.cleanup();
      }
    });
  }
});

Deno.test("a corrupt mountpoints.json is reported with its path and kept", async () => {
  const { s, layer } = await populated();
  try {
    const file = join(s.run, "vfs-layers", "mountpoints.json");
    await Deno.writeTextFile(file, '[{"id":');
    const r = await cli([...s.flags, "mount", layer]);
    assert.equal(r.code, 1);
    assert.ok((r.stderr + r.stdout).includes(JSON.stringify(file)));
    assert.equal(await Deno.readTextFile(file), '[{"id":');
  } finally {
    await s.cleanup();
  }
});

const noOverlay = await overlayUnavailable();

testIf(
  noOverlay === "",
  noOverlay,
  "overlay: a link file naming a path outside the store is never followed",
  async () => {
    const s = await tempStore("overlay");
    const outside = join(s.dir, "outside");
    await Deno.mkdir(outside);
    await Deno.writeTextFile(join(outside, "keep"), "keep me");
    try {
      const hostile = "../../../outside/keep";
      const a = firstLine(await ok([...s.flags, "create-layer"]));
      await Deno.writeTextFile(join(s.graph, "overlay", a, "link"), hostile);
      await ok([...s.flags, "delete-layer", a]);
      const b = firstLine(await ok([...s.flags, "create-layer"]));
      await Deno.writeTextFile(join(s.graph, "overlay", b, "link"), "../../../outside/made");
      // Lost short links are rebuilt from the link files when a child is made.
      for (const e of Deno.readDirSync(join(s.graph, "overlay", "l"))) {
        Deno.removeSync(join(s.graph, "overlay", "l", e.name));
      }
      await cli([...s.flags, "create-layer", b]);
      await cli([...s.flags, "delete-layer", b]);
      assert.deepEqual([...Deno.readDirSync(outside)].map((e) => e.name), ["keep"]);
      assert.equal(await Deno.readTextFile(join(outside, "keep")), "keep me");
    } finally {
      await s.cleanup();
    }
  },
);
