/**
 * The README's main job (`deno task demo`) runs end to end: twice in the
 * same folder (the second run reuses what the first stored), then cleans
 * up after itself with `--remove-store`, leaving no mounts.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { DENO, ROOT, run } from "./helpers.ts";

async function demo(args: string[]): Promise<string> {
  const r = await run(DENO, ["run", "-A", join(ROOT, "demo", "main.ts"), ...args], {
    env: { NO_COLOR: "1" },
  });
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

async function mountsUnder(dir: string): Promise<string[]> {
  return (await Deno.readTextFile("/proc/mounts")).split("\n")
    .map((l) => l.split(" ")[1] ?? "")
    .filter((p) => p.startsWith(dir));
}

Deno.test("demo: build, import, container, mount, list, export, clean up", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cstor-demo-" });
  try {
    const first = await demo(["--dir", dir]);
    for (
      const step of [
        "1. Building",
        "2. Opening",
        "3. Importing",
        "4. Creating",
        "5. What",
        "6. Exporting",
        "7. Cleaning",
      ]
    ) {
      assert.ok(first.includes(step), `missing step "${step}":\n${first}`);
    }
    assert.match(first, /\/etc\/hello\.txt says: Hello from a container image/);
    assert.match(first, /layer [0-9a-f]{12} {2}applied/);
    assert.match(first, /byte-identical to what was imported/);
    assert.match(first, /the store is kept/);
    assert.deepEqual(await mountsUnder(dir), []);
    assert.ok((await Deno.stat(join(dir, "store"))).isDirectory);

    const second = await demo(["--dir", dir, "--remove-store"]);
    assert.match(second, /already in the store, reused/);
    assert.match(second, /already there: names and manifest updated/);
    assert.match(second, /store and files removed/);
    assert.deepEqual(await mountsUnder(dir), []);
    await assert.rejects(Deno.stat(dir), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
