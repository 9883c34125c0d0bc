/**
 * `copy` with ID maps and `--chown`, and the parent-owner reports, compared
 * with the Go CLI.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { cli, goCLI, haveGo, isRoot, NO_GO, tempStore, testIf } from "./helpers.ts";

async function owners(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string, rel: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = join(d, e.name);
      const st = await Deno.lstat(p);
      out[`${rel}${e.name}`] = `${st.uid}:${st.gid}:${(st.mode! & 0o7777).toString(8)}`;
      if (st.isDirectory) await walk(p, `${rel}${e.name}/`);
    }
  };
  await walk(dir, "");
  return out;
}

testIf(
  haveGo() && isRoot(),
  "needs root and Debian's containers-storage",
  "copy maps owners like the Go CLI",
  async () => {
    const s = await tempStore();
    try {
      const src = join(s.dir, "src");
      await Deno.mkdir(join(src, "sub"), { recursive: true });
      await Deno.writeTextFile(join(src, "a"), "a");
      await Deno.writeTextFile(join(src, "sub", "b"), "b");
      await Deno.chown(join(src, "a"), 1234, 5678);
      await Deno.chmod(join(src, "a"), 0o4750);
      const maps = ["--uidmap", "0:100000:65536", "--gidmap", "0:200000:65536"];
      const ours = (await cli([...s.flags, "create-layer", ...maps])).stdout.trim();
      const theirs = (await goCLI([...s.flags, "create-layer", ...maps])).stdout.trim();
      for (const [run, id] of [[cli, ours], [goCLI, theirs]] as const) {
        assert.equal((await run([...s.flags, "copy", src, `${id}:/dst`])).code, 0);
        assert.equal(
          (await run([...s.flags, "copy", "--chown", "7:8", join(src, "a"), `${id}:/dst/c`])).code,
          0,
        );
      }
      const dir = (id: string) => join(s.graph, "vfs", "dir", id, "dst");
      assert.deepEqual(await owners(dir(ours)), await owners(dir(theirs)));
      assert.equal((await owners(dir(ours)))["a"], "101234:205678:4750");
      // Nothing stays mounted after copy.
      assert.equal((await cli([...s.flags, "mounted", ours])).stdout, "");
    } finally {
      await s.cleanup();
    }
  },
);

testIf(
  haveGo(),
  NO_GO,
  "layer-parent-owners and container-parent-owners print like Go's",
  async () => {
    const s = await tempStore();
    try {
      const maps = ["--uidmap", "0:100000:65536", "--gidmap", "0:100000:65536"];
      const layer =
        (await cli([...s.flags, "create-layer", "-n", "m", ...maps])).stdout.split("\n")[0];
      await cli([...s.flags, "create-image", "-n", "img", layer]);
      await cli([...s.flags, "create-container", "-n", "c", ...maps, "img"]);
      const compare = async (args: string[]) => {
        const a = await cli([...s.flags, ...args]);
        const b = await goCLI([...s.flags, ...args]);
        assert.equal(a.stdout, b.stdout, args.join(" "));
        assert.equal(a.stderr, b.stderr, args.join(" "));
        assert.equal(a.code, b.code, args.join(" "));
      };
      await compare(["layer-parent-owners", "m"]); // not mounted
      await compare(["layer-parent-owners", "nope"]);
      assert.equal((await cli([...s.flags, "mount", "m", "c"])).code, 0);
      await compare(["layer-parent-owners", "m"]);
      await compare(["layer-parent-owners", "-j", "m"]);
      await compare(["container-parent-owners", "c"]);
      await compare(["container-parent-owners", "-j", "c"]);
    } finally {
      await s.cleanup();
    }
  },
);
