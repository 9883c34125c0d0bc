/**
 * Permission scoping: every CLI command works with exactly the permissions
 * README.md documents (its `deno run` line, with the example roots replaced
 * by this test's), and an attempt to make the CLI touch any other path is
 * refused by Deno: a non-zero exit, a message naming the path, and nothing
 * created there.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { cstorProcess, ROOT, type RunResult, tempStore } from "./helpers.ts";
import { allCommands } from "../src/cli/commands.ts";
import { baseEntries, childEntries, firstLine, tarBytes } from "./fixtures/robustness/util.ts";

/** The `--allow-*` flags of README's `deno run` example, for the given roots and extra paths. */
async function readmePermissions(graph: string, run: string, files: string): Promise<string[]> {
  const readme = await Deno.readTextFile(join(ROOT, "README.md"));
  const block = /```sh\n(deno run \\\n[\s\S]*?)```/.exec(readme);
  assert.ok(block, "README has no `deno run` block");
  const text = block[1];
  assert.match(text, /jsr:@cstor\/storage\/cli --graph \/srv\/graph --run \/srv\/run/);
  // README says files named on the command line need the same permission:
  // they are added to the read and write lists, nothing else is.
  assert.match(readme, /\/srv\/files/, "README does not say how to allow files commands name");
  const flags = text.split(/\s+/).filter((t) => t.startsWith("--allow-"));
  assert.ok(flags.length >= 4, text);
  return flags.map((f) =>
    f.replaceAll("/srv/graph", graph).replaceAll("/srv/run", run).replaceAll("/srv/files", files)
  );
}

Deno.test("every command works with only the permissions README documents", async () => {
  const s = await tempStore();
  const files = join(s.dir, "files");
  await Deno.mkdir(files);
  try {
    const perms = await readmePermissions(s.graph, s.run, files);
    const ran = new Set<string>();
    const cs = async (args: string[], stdin?: Uint8Array | string): Promise<string> => {
      const r: RunResult = await cstorProcess([...s.flags, ...args], { permissions: perms, stdin });
      ran.add(args[0]);
      assert.doesNotMatch(r.stderr + r.stdout, /Requires .* access|NotCapable/, args.join(" "));
      assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}${r.stdout}`);
      return r.stdout;
    };
    const tar = join(files, "layer.tar");
    await Deno.writeFile(tar, await tarBytes(childEntries()));

    const base = firstLine(await cs(["create-layer", "-n", "base"]));
    const imported = firstLine(
      await cs(["import-layer", "-n", "imported"], await tarBytes(baseEntries())),
    );
    const fromFile = firstLine(await cs(["import-layer", "-f", tar, imported]));
    await cs(["applydiff", "-f", tar, base]);
    await cs(["layers"]);
    await cs(["layer", imported]);
    await cs(["diff", "-f", join(files, "out.tar"), imported]);
    assert.ok((await Deno.stat(join(files, "out.tar"))).size > 0);
    await cs(["changes", fromFile]);
    await cs(["diffsize", fromFile]);
    await cs(["set-layer-data", imported, "note"], "layer data");
    await cs(["list-layer-data", imported]);
    await cs(["get-layer-data", imported, "note"]);
    const image = firstLine(await cs(["create-image", "-n", "img", fromFile]));
    await cs(["set-image-data", image, "manifest"], '{"schemaVersion":2}');
    await cs(["list-image-data", image]);
    await cs(["get-image-data", image, "manifest"]);
    await cs(["get-image-data-size", image, "manifest"]);
    const digest = (await cs(["get-image-data-digest", image, "manifest"])).trim();
    await cs(["images"]);
    await cs(["image", image]);
    await cs(["images-by-digest", digest]);
    await cs(["export", image, `oci:${join(files, "layout")}`]);
    await cs(["import", `oci:${join(files, "layout")}`, "imported:again"]);
    const container = firstLine(await cs(["create-container", "-n", "box", image]));
    await cs(["containers"]);
    await cs(["container", container]);
    await cs(["get-container-dir", container]);
    await cs(["get-container-run-dir", container]);
    await cs(["set-container-data", container, "config"], "container data");
    await cs(["list-container-data", container]);
    await cs(["get-container-data", container, "config"]);
    await cs(["get-container-data-size", container, "config"]);
    await cs(["get-container-data-digest", container, "config"]);
    const containerLayer = JSON.parse(await cs(["container", "--json", container]))[0].layer;
    await cs(["copy", `${imported}:/etc/hosts`, `${containerLayer}:/copied`]);
    await cs(["layer-parent-owners", fromFile]);
    await cs(["container-parent-owners", container]);
    await cs(["get-names", image]);
    await cs(["add-names", "-n", "more", image]);
    await cs(["set-names", "-n", "renamed", image]);
    await cs(["metadata", image]);
    await cs(["set-metadata", "-m", "meta", image]);
    await cs(["exists", image]);
    await cs(["mount", container]);
    await cs(["mounted", container]);
    await cs(["unmount", container]);
    await cs(["status"]);
    await cs(["version"]);
    await cs(["check"]);
    await cs(["gc"]);
    await cs(["delete-container", container]);
    await cs(["delete-image", "renamed"]);
    await cs(["delete-layer", base]);
    await cs(["create-layer", "-n", "spare"]);
    await cs(["delete", "spare"]);
    await cs(["shutdown"]);
    await cs(["wipe"]);

    const missing = (await allCommands()).map((c) => c.name).filter((n) => !ran.has(n));
    assert.deepEqual(missing, [], "commands this test does not run yet: add them above");
  } finally {
    await s.cleanup();
  }
});

Deno.test("paths outside the allowed ones are refused by Deno, and nothing is made there", async () => {
  const s = await tempStore();
  const files = join(s.dir, "files");
  const outside = join(s.dir, "outside");
  await Deno.mkdir(files);
  await Deno.mkdir(outside);
  try {
    const perms = await readmePermissions(s.graph, s.run, files);
    const base = ["--graph", s.graph, "--run", s.run, "--storage-driver", "vfs"];
    for (const args of [["create-layer", "-n", "l"], ["create-image", "-n", "i", "l"]]) {
      const made = await cstorProcess([...base, ...args], { permissions: perms });
      assert.equal(made.code, 0, made.stderr);
    }
    await Deno.writeTextFile(join(outside, "secret.tar"), "not yours");
    const attempts: Array<[string[], string]> = [
      [
        ["--graph", join(outside, "graph"), "--run", s.run, "--storage-driver", "vfs", "layers"],
        "graph",
      ],
      [
        ["--graph", s.graph, "--run", join(outside, "run"), "--storage-driver", "vfs", "layers"],
        "run",
      ],
      [[...base, "import-layer", "-f", join(outside, "secret.tar")], "secret.tar"],
      [[...base, "diff", "-f", join(outside, "out.tar"), "l"], "out.tar"],
      [[...base, "export", "i", `oci:${join(outside, "layout")}`], "layout"],
      [["--storage-driver", "vfs", "layers"], ""], // the default roots are not allowed either
    ];
    for (const [args, what] of attempts) {
      const r = await cstorProcess(args, { permissions: perms });
      assert.notEqual(r.code, 0, `${args.join(" ")} was allowed`);
      assert.match(r.stdout + r.stderr, /Requires (read|write) access to/, args.join(" "));
      if (what !== "") assert.ok((r.stdout + r.stderr).includes(what), r.stdout + r.stderr);
    }
    const left = [...Deno.readDirSync(outside)].map((e) => e.name);
    assert.deepEqual(left, ["secret.tar"]);
  } finally {
    await s.cleanup();
  }
});
