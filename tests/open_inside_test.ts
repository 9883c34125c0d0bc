/**
 * openInside (tar-split reassembly's file opener): regular files open,
 * anything else is null, and no symlink on the way is followed.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { openInside } from "../src/drivers/open_inside.ts";

async function read(root: string, name: string, verified?: Set<string>): Promise<string | null> {
  const f = await openInside(root, name, verified);
  if (f === null) return null;
  const buf = new Uint8Array(64);
  let n = 0;
  for (let k = f.readSync(buf); k !== null; k = f.readSync(buf.subarray(n))) n += k;
  f.close();
  return new TextDecoder().decode(buf.subarray(0, n));
}

Deno.test("openInside: files, missing names, other kinds and symlinks", async () => {
  const root = await Deno.makeTempDir({ prefix: "cstor-open-inside-" });
  const outside = await Deno.makeTempDir({ prefix: "cstor-open-outside-" });
  try {
    await Deno.mkdir(join(root, "etc/sub"), { recursive: true });
    await Deno.writeTextFile(join(root, "etc/sub/file"), "inside");
    await Deno.writeTextFile(join(root, "ünï €.txt"), "unicode");
    await Deno.writeTextFile(join(outside, "secret"), "outside");
    await Deno.symlink(join(outside, "secret"), join(root, "etc/link"));
    await Deno.symlink(outside, join(root, "dirlink"));
    await new Deno.Command("mkfifo", { args: [join(root, "fifo")] }).output();

    const verified = new Set<string>();
    assert.equal(await read(root, "etc/sub/file", verified), "inside");
    assert.equal(await read(root, "./etc//sub/file", verified), "inside");
    assert.ok(verified.has(join(root, "etc")));
    assert.equal(await read(root, "ünï €.txt"), "unicode");
    assert.equal(await read(root, "etc/missing"), null);
    assert.equal(await read(root, "etc/sub/file/below"), null);
    assert.equal(await read(root, "etc/sub"), null); // a directory
    assert.equal(await read(root, "fifo"), null); // and nothing hangs
    await assert.rejects(read(root, "etc/link"), /leads through a symlink/);
    await assert.rejects(read(root, "dirlink/secret"), /leads through a symlink/);
    await assert.rejects(read(root, "../x"), /does not name a file inside/);
    // The stream form reads the whole file.
    const f = await openInside(root, "etc/sub/file");
    assert.equal(await new Response(f!.readable).text(), "inside");
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});
