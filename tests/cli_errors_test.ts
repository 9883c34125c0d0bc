/**
 * Bad input through the CLI: wrong flags, missing or extra arguments,
 * unknown IDs, duplicate names, invalid digests. Messages and exit codes
 * are compared with Debian's Go CLI where it is installed, and the store
 * must be left exactly as it was.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { cli, goCLI, haveGo, NO_GO, tempStore, testIf } from "./helpers.ts";

/** Everything in the store's JSON files, to show a failed command changed nothing. */
async function snapshot(graph: string, run: string): Promise<string> {
  const files = [
    join(graph, "vfs-layers", "layers.json"),
    join(graph, "vfs-images", "images.json"),
    join(graph, "vfs-containers", "containers.json"),
    join(run, "vfs-layers", "mountpoints.json"),
  ];
  // A missing file and "[]" both mean "no records" (Go writes "[]" on every layer save).
  const parts = await Promise.all(files.map((f) => Deno.readTextFile(f).catch(() => "[]")));
  return parts.join("\n");
}

Deno.test("CLI usage errors give the documented exit codes", async (t) => {
  const s = await tempStore();
  try {
    await t.step("no arguments: usage on stdout, exit 1", async () => {
      const r = await cli([]);
      assert.equal(r.code, 1);
      assert.match(r.stdout, /^Usage: cstor command \[options \[\.\.\.\]\]\n\nCommands:\n/);
    });
    await t.step("--help: usage, exit 0", async () => {
      const r = await cli(["--help"]);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /^Usage: /);
      assert.match(r.stdout, / {2}create-layer {18}Create a new layer\n/);
    });
    await t.step("only flags: usage, exit 1", async () => {
      const r = await cli([...s.flags]);
      assert.equal(r.code, 1);
      assert.match(r.stdout, /^Usage: /);
    });
    await t.step("unknown command", async () => {
      const r = await cli([...s.flags, "frobnicate"]);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, "frobnicate: unrecognized command.\n");
    });
    await t.step("bad global flag", async () => {
      const r = await cli(["--bogus", "layers"]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, "flag provided but not defined: --bogus\nSee 'cstor --help'.\n");
      assert.match(
        r.stdout,
        /^flag provided but not defined: --bogus while parsing arguments \(1\)\nUsage: /,
      );
    });
    await t.step("bad command flag: exit 125", async () => {
      const r = await cli([...s.flags, "layers", "--bogus"]);
      assert.equal(r.code, 125);
      assert.equal(
        r.stderr,
        "flag provided but not defined: --bogus\nSee 'cstor layers --help'.\n",
      );
    });
    await t.step("flag without its value: exit 125", async () => {
      const r = await cli([...s.flags, "create-layer", "--id"]);
      assert.equal(r.code, 125);
      assert.match(r.stderr, /^flag needs an argument: --id\n/);
    });
    await t.step("-h after a command: command usage, exit 125", async () => {
      const r = await cli([...s.flags, "layers", "-h"]);
      assert.equal(r.code, 125);
      assert.match(
        r.stdout,
        /^Usage: cstor layers \[options \[\.\.\.\]\]\n\nList layers\n\nOptions:\n/,
      );
    });
    await t.step("too few arguments", async () => {
      const r = await cli([...s.flags, "layer"]);
      assert.equal(r.code, 1);
      assert.match(r.stdout, /^layer: more arguments required\.\nUsage: cstor layer /);
    });
    await t.step("too many arguments", async () => {
      const r = await cli([...s.flags, "create-layer", "a", "b", "c"]);
      assert.equal(r.code, 1);
      assert.match(r.stdout, /^create-layer: too many arguments \(\[a b c\]\)\.\nUsage: /);
    });
    await t.step("Go-style boolean values and combined short flags", async () => {
      assert.equal((await cli([...s.flags, "layers", "--json=false"])).stdout, "");
      assert.equal((await cli([...s.flags, "layers", "--json=true"])).stdout, "null\n");
      assert.equal((await cli(["--debug=false", ...s.flags, "images", "-jq"])).stdout, "null\n");
      const bad = await cli([...s.flags, "layers", "--json=maybe"]);
      assert.equal(bad.code, 125);
    });
    await t.step("flags after a positional argument are arguments", async () => {
      const r = await cli([...s.flags, "exists", "x", "--json"]);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, "x: false\n--json: false\n");
    });
  } finally {
    await s.cleanup();
  }
});

/** Commands that must fail, with the same message and code as the Go CLI. */
function failing(ids: { layer: string; image: string }): string[][] {
  return [
    ["layer", "nope"],
    ["create-layer", "nope"],
    ["create-layer", "-n", "base"],
    ["create-layer", "-i", ids.layer],
    ["create-image", "nope"],
    ["create-image", "-n", "img", ids.layer],
    ["create-image", "-i", ids.image, ids.layer],
    ["create-image", "-d", "sha256:xyz", ids.layer],
    ["create-image", "-d", "md5:abc", ids.layer],
    ["create-container", "nope"],
    ["create-container", "-n", "c", "img"],
    ["delete-layer", ids.layer],
    ["delete-layer", "nope"],
    ["delete-image", "nope"],
    ["delete-image", "img"],
    ["delete-container", "nope"],
    ["delete", "nope"],
    ["get-image-data", "img", "missing"],
    ["get-image-data", "nope", "manifest"],
    ["get-image-data-size", "img", "missing"],
    ["get-image-data-digest", "img", "missing"],
    ["get-container-data", "c", "missing"],
    ["get-layer-data", ids.layer, "missing"],
    ["list-image-data", "nope"],
    ["get-names", "nope"],
    ["set-metadata", "-m", "x", "nope"],
    ["set-metadata", ids.layer],
    ["images-by-digest", "sha256:abc"],
    ["images-by-digest", "nonsense"],
    ["mount", "nope"],
    ["mounted", "nope"],
    ["unmount", "nope"],
    ["get-container-dir", "nope"],
    ["metadata", "nope"],
    ["exists", "-i", ids.layer],
    ["exists", "-l", "-c", "c"],
    ["delete-layer", "-j", ids.layer, "nope"],
    ["delete-image", "-j", "nope"],
  ];
}

testIf(
  haveGo(),
  NO_GO,
  "failing commands: same message and exit code as the Go CLI, store unchanged",
  async () => {
    const s = await tempStore();
    try {
      const layer =
        (await cli([...s.flags, "create-layer", "-n", "base"])).stdout.trim().split("\n")[0];
      const image =
        (await cli([...s.flags, "create-image", "-n", "img", layer])).stdout.trim().split("\n")[0];
      assert.equal((await cli([...s.flags, "create-container", "-n", "c", "img"])).code, 0);
      const before = await snapshot(s.graph, s.run);
      for (const args of failing({ layer, image })) {
        const ours = await cli([...s.flags, ...args]);
        const go = await goCLI([...s.flags, ...args]);
        const what = args.join(" ");
        assert.equal(ours.code, go.code, `exit code of ${what}: ${ours.stderr} / ${go.stderr}`);
        assert.equal(ours.stdout, go.stdout, `stdout of ${what}`);
        assert.equal(ours.stderr, go.stderr, `stderr of ${what}`);
        assert.equal(await snapshot(s.graph, s.run), before, `${what} changed the store`);
      }
    } finally {
      await s.cleanup();
    }
  },
);

Deno.test("IDs that would name a path outside the store are refused", async () => {
  const s = await tempStore();
  try {
    for (const id of ["../escape", "a/b", ".", ".."]) {
      const r = await cli([...s.flags, "create-layer", "-i", id]);
      assert.equal(r.code, 1, id);
      assert.match(r.stderr, /ID/);
    }
    assert.equal((await cli([...s.flags, "layers"])).stdout, "");
    for (const key of ["..", "."]) {
      const layer = (await cli([...s.flags, "create-layer"])).stdout.trim();
      const image = (await cli([...s.flags, "create-image", layer])).stdout.trim();
      const r = await cli([...s.flags, "set-image-data", image, key], "x");
      assert.equal(r.code, 1);
      assert.match(r.stderr, /not a valid name for a big data item/);
    }
  } finally {
    await s.cleanup();
  }
});
