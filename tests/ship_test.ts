/**
 * Shipping: the version, per-command help, the single-file bundle and the
 * standalone binary.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { cli, DENO, ROOT, run, tempStore, testIf } from "./helpers.ts";
import { VERSION } from "../src/version.ts";
import { allCommands } from "../src/cli/commands.ts";

Deno.test("version comes from deno.json", async () => {
  const config = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  assert.equal(VERSION, config.version);
  const r = await cli(["version"]);
  assert.equal(r.stdout, `Version: ${config.version}\n`);
  assert.equal((await cli(["version", "-j"])).stdout, `[["Version","${config.version}"]]\n`);
});

Deno.test("every command has help: usage, description and flags, exit 125", async () => {
  for (const c of await allCommands()) {
    for (const name of [c.name, ...(c.aliases ?? [])]) {
      const r = await cli([name, "--help"]);
      assert.equal(r.code, 125, name);
      assert.ok(
        r.stdout.startsWith(`Usage: cstor ${c.name} ${c.usage}\n\n${c.description}\n\nOptions:\n`),
        name,
      );
      for (const f of c.flags) assert.ok(r.stdout.includes(`--${f.long}`), `${name} --${f.long}`);
      assert.ok(r.stdout.includes("--graph"), `${name} lists the global flags`);
    }
  }
});

Deno.test("the bundle is one file that runs offline with scoped permissions", async () => {
  const s = await tempStore();
  try {
    const out = join(s.dir, "cstor.js");
    const b = await run(DENO, ["bundle", "--platform", "deno", "-o", out, join(ROOT, "cli.ts")], {
      cwd: ROOT,
    });
    assert.equal(b.code, 0, b.stderr);
    const perms = [
      `--allow-read=${s.dir}`,
      `--allow-write=${s.dir}`,
      "--allow-ffi",
      "--no-remote",
      "--no-npm",
    ];
    const go = (args: string[]) =>
      run(DENO, ["run", ...perms, out, ...s.flags, ...args], { cwd: s.dir });
    const made = await go(["create-layer", "-n", "from-bundle"]);
    assert.equal(made.code, 0, made.stderr);
    const listed = await go(["layers"]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /name: from-bundle/);
    assert.equal((await go(["version"])).stdout, `Version: ${VERSION}\n`);
  } finally {
    await s.cleanup();
  }
});

/**
 * `deno compile` needs Deno's runtime binary, which it downloads; on
 * machines without network it cannot build anything. Try once, up front,
 * and skip the test with that reason when the download is what failed.
 */
async function compileAttempt(): Promise<{ binary?: string; reason?: string; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "cstor-compile-" });
  const binary = join(dir, "cstor");
  const r = await run(DENO, ["compile", "-P=cli", "--output", binary, join(ROOT, "cli.ts")], {
    cwd: ROOT,
  });
  if (r.code === 0) return { binary, dir };
  if (/dns error|lookup address|download|fetch|network|connect/i.test(r.stderr)) {
    return { dir, reason: "deno compile cannot download its runtime on this machine" };
  }
  throw new Error(`deno compile failed for another reason: ${r.stderr}`);
}

const compiled = await compileAttempt();

testIf(
  compiled.binary !== undefined,
  compiled.reason ?? "",
  "deno task compile builds a cstor binary that runs",
  async () => {
    try {
      const r = await run(compiled.binary!, ["version"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `Version: ${VERSION}\n`);
    } finally {
      await Deno.remove(compiled.dir, { recursive: true }).catch(() => {});
    }
  },
);

if (compiled.binary === undefined) {
  await Deno.remove(compiled.dir, { recursive: true }).catch(() => {});
}
