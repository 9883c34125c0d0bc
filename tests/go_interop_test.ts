/**
 * Interop with Debian's Go `containers-storage` on vfs, both directions:
 * what one writes the other reads and changes, and both CLIs print the
 * same bytes for the same store.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { cli, goCLI, haveGo, NO_GO, tempStore, testIf } from "./helpers.ts";

/** Go prints map-driven text (exists) in random order: compare those as sorted lines. */
function comparable(args: string[], stdout: string): string {
  if (args[0] === "exists" && !args.includes("-j")) return stdout.split("\n").sort().join("\n");
  return stdout;
}

/** Commands whose output must be identical from both CLIs on the same store. */
function sameOutputCommands(ids: Record<string, string>): string[][] {
  return [
    ["layers"],
    ["layers", "--json"],
    ["layers", "-t"],
    ["images"],
    ["images", "--json"],
    ["images", "-q"],
    ["containers"],
    ["containers", "--json"],
    ["layer", ids.layer],
    ["layer", "--json", ids.layer, ids.child],
    ["image", "img:1"],
    ["image", "-j", "img:1"],
    ["images-by-digest", ids.digest],
    ["get-names", "img:1"],
    ["get-names", "-j", ids.layer],
    ["metadata", "img:1", ids.layer, "c1"],
    ["metadata", "-q", "img:1"],
    ["metadata", "-j", "img:1", "c1"],
    ["exists", "img:1", "nope", "c1"],
    ["exists", "-j", "img:1"],
    ["list-image-data", "img:1"],
    ["list-image-data", "-j", "img:1"],
    ["get-image-data", "img:1", "manifest"],
    ["get-image-data", "img:1", "sha256:0123"],
    ["get-image-data-size", "img:1", "manifest"],
    ["get-image-data-digest", "img:1", "manifest"],
    ["list-container-data", "c1"],
    ["get-container-data", "c1", "config"],
    ["get-container-data-size", "c1", "config"],
    ["get-container-data-digest", "c1", "config"],
    ["mounted", "c1"],
    ["status", "--json"],
    ["get-container-dir", "c1"],
    ["get-container-run-dir", "c1"],
    ["container", "c1"],
    ["container", "--json", "c1"],
  ];
}

async function populate(run: typeof cli, flags: string[]): Promise<Record<string, string>> {
  const ok = async (args: string[], stdin?: string) => {
    const r = await run([...flags, ...args], stdin);
    assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  const layer = (await ok(["create-layer", "-n", "base", "-n", "base2"])).split("\n")[0];
  const child = (await ok(["create-layer", "-n", "child", layer])).split("\n")[0];
  await ok(["create-image", "-n", "img:1", "-n", "img:latest", "-m", "image metadata\n", child]);
  await ok(["set-image-data", "img:1", "manifest"], '{"schemaVersion":2}');
  await ok(["set-image-data", "img:1", "sha256:0123"], "config bytes <&>");
  await ok(["set-metadata", "-m", "layer metadata", layer]);
  await ok(["create-container", "-n", "c1", "-m", "container metadata", "img:1"]);
  await ok(["set-container-data", "c1", "config"], "container config");
  await ok(["mount", "c1"]);
  const digest = (await ok(["get-image-data-digest", "img:1", "manifest"])).trim();
  return { layer, child, digest };
}

testIf(haveGo(), NO_GO, "a store written by cstor reads the same through the Go CLI", async () => {
  const s = await tempStore();
  try {
    const ids = await populate(cli, s.flags);
    for (const args of sameOutputCommands(ids)) {
      const ours = await cli([...s.flags, ...args]);
      const go = await goCLI([...s.flags, ...args]);
      assert.equal(
        comparable(args, ours.stdout),
        comparable(args, go.stdout),
        `stdout of ${args.join(" ")}`,
      );
      assert.equal(ours.code, go.code, `exit code of ${args.join(" ")}`);
    }
    // Go unmounts what cstor mounted; the count goes back to zero.
    const un = await goCLI([...s.flags, "unmount", "c1"]);
    assert.equal(un.code, 0, un.stderr);
    assert.equal(un.stdout, "c1 mountpoint unmounted\n");
    assert.equal((await cli([...s.flags, "mounted", "c1"])).stdout, "");
    assert.equal(await Deno.readTextFile(join(s.run, "vfs-layers", "mountpoints.json")), "[]");
  } finally {
    await s.cleanup();
  }
});

testIf(
  haveGo(),
  NO_GO,
  "a store written by the Go CLI is read and changed by cstor, and read back by Go",
  async () => {
    const s = await tempStore();
    try {
      const ids = await populate(goCLI, s.flags);
      for (const args of sameOutputCommands(ids)) {
        const go = await goCLI([...s.flags, ...args]);
        const ours = await cli([...s.flags, ...args]);
        assert.equal(
          comparable(args, ours.stdout),
          comparable(args, go.stdout),
          `stdout of ${args.join(" ")}`,
        );
        assert.equal(ours.code, go.code, `exit code of ${args.join(" ")}`);
      }
      // cstor changes things; Go sees every change.
      const change = async (args: string[], stdin?: string) => {
        const r = await cli([...s.flags, ...args], stdin);
        assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
      };
      await change(["unmount", "c1"]);
      await change(["set-names", "-n", "img:2", "-n", "img:1", "img:1"]);
      await change(["set-image-data", "img:1", "signature-1"], "sig");
      await change(["add-names", "-n", "c2", "c1"]);
      await change(["create-container", "-n", "c3", "img:2"]);
      await change(["delete-container", "c1"]);
      const go = async (args: string[]) => {
        const r = await goCLI([...s.flags, ...args]);
        assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
        return r.stdout;
      };
      assert.equal(await go(["get-names", "img:2"]), "img:2\nimg:1\n");
      assert.equal(await go(["get-image-data", "img:1", "signature-1"]), "sig");
      assert.equal(await go(["mounted", ids.child]), "");
      const containers = JSON.parse(await go(["containers", "--json"]));
      assert.deepEqual(containers.map((c: { names: string[] }) => c.names), [["c3"]]);
      const images = JSON.parse(await go(["images", "--json"]));
      assert.deepEqual(images[0]["names-history"], ["img:1", "img:2"]);
      // And Go can still delete what cstor created.
      assert.equal((await goCLI([...s.flags, "delete-container", "c3"])).code, 0);
      assert.equal((await goCLI([...s.flags, "delete-image", "img:2"])).code, 0);
      assert.equal(await go(["layers"]), "");
    } finally {
      await s.cleanup();
    }
  },
);

testIf(
  haveGo(),
  NO_GO,
  "layer contents: cstor-applied layers diff byte-identically through Go, and the reverse",
  async () => {
    const s = await tempStore();
    try {
      const src = await Deno.makeTempDir({ dir: s.dir });
      await Deno.mkdir(join(src, "etc/deep/dir"), { recursive: true });
      await Deno.writeTextFile(join(src, "etc/hosts"), "127.0.0.1 localhost\n");
      await Deno.writeTextFile(join(src, "etc/deep/dir/file"), "x".repeat(10000));
      await Deno.symlink("hosts", join(src, "etc/link"));
      await Deno.link(join(src, "etc/hosts"), join(src, "etc/hardlink"));
      const tarFile = join(s.dir, "layer.tar");
      const t = new Deno.Command("tar", { args: ["-cf", tarFile, "-C", src, "."] });
      assert.equal((await t.output()).code, 0);
      const gz = join(s.dir, "layer.tar.gz");
      assert.equal((await new Deno.Command("gzip", { args: ["-k", tarFile] }).output()).code, 0);
      const input = await Deno.readFile(tarFile);
      const want = await sha256(input);

      const ours = await cli([...s.flags, "import-layer", "-f", gz]);
      assert.equal(ours.code, 0, ours.stderr);
      const ourID = ours.stdout.trim();
      const goDiff = await goCLI([...s.flags, "diff", "-u", ourID]);
      assert.equal(await sha256(goDiff.bytes), want);

      const goLayer = (await goCLI([...s.flags, "create-layer"])).stdout.trim();
      assert.equal((await goCLI([...s.flags, "applydiff", "-f", gz, goLayer])).code, 0);
      const ourDiff = await cli([...s.flags, "diff", "-u", goLayer]);
      assert.equal(ourDiff.code, 0, ourDiff.stderr);
      assert.equal(await sha256(ourDiff.bytes), want);

      // Both recorded the same digests, sizes, compression and ID sets.
      const records = JSON.parse((await goCLI([...s.flags, "layers", "--json"])).stdout);
      const strip = (l: Record<string, unknown>) => {
        const { id: _id, created: _created, ...rest } = l;
        return rest;
      };
      assert.deepEqual(strip(records[0]), strip(records[1]));
      assert.equal(records[0]["diff-digest"], want);
      assert.equal(records[0].compression, 2);
      // The tar-split files decompress to the same JSON lines.
      const split = async (id: string) =>
        new TextDecoder().decode(
          (await new Deno.Command("gzip", {
            args: ["-dc", join(s.graph, "vfs-layers", `${id}.tar-split.gz`)],
          }).output()).stdout,
        );
      assert.equal(await split(ourID), await split(goLayer));
    } finally {
      await s.cleanup();
    }
  },
);

async function sha256(bytes: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return "sha256:" + Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
}
