/**
 * Layer contents through the store and the CLI: GNU tar archives in every
 * format and compression round-trip byte for byte; hostile, truncated and
 * corrupt input is refused with nothing left behind; a huge stream is
 * applied in bounded memory.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { cli, cstorProcess, tempStore } from "./helpers.ts";
import { gnuTar, makeTree, sha256 } from "./fixtures/archive/tar_fixtures.ts";
import { archive, paxEntry, rawEntry } from "./fixtures/archive/raw_tar.ts";

/**
 * makeTree's awkward tree, minus its one non-UTF-8 name: Deno paths are
 * strings, so cstor refuses such entries (a known limitation, tested in
 * archive_extract_test.ts).
 */
async function utf8Tree(dir: string): Promise<string> {
  const tree = await makeTree(dir);
  const rm = new Deno.Command("find", { args: [tree, "-name", "latin1-*", "-delete"] });
  assert.equal((await rm.output()).code, 0);
  return tree;
}

async function compressWith(cmd: string, args: string[], data: Uint8Array): Promise<Uint8Array> {
  const child = new Deno.Command(cmd, { args, stdin: "piped", stdout: "piped" }).spawn();
  const w = child.stdin.getWriter();
  await w.write(data);
  await w.close();
  return (await child.output()).stdout;
}

/** Everything in a store that a failed import must not change or leave behind. */
async function storeState(graph: string): Promise<string> {
  const layers = await Deno.readTextFile(join(graph, "vfs-layers", "layers.json")).catch(() =>
    "[]"
  );
  const dirs = [...Deno.readDirSync(join(graph, "vfs", "dir"))].map((e) => e.name).sort();
  let staging: string[] = [];
  try {
    staging = [...Deno.readDirSync(join(graph, "vfs", "cstor-staging"))].map((e) => e.name);
  } catch { /* never created */ }
  const splits = [...Deno.readDirSync(join(graph, "vfs-layers"))].map((e) => e.name).filter((n) =>
    n.endsWith(".tar-split.gz")
  ).sort();
  return JSON.stringify({ layers, dirs, staging, splits });
}

Deno.test("GNU tar archives round-trip byte for byte through import-layer and diff", async (t) => {
  const s = await tempStore();
  try {
    const tree = await utf8Tree(s.dir);
    for (const format of ["pax", "gnu", "ustar", "oldgnu"]) {
      const extra = format === "pax" ? ["--xattrs", "--xattrs-include=*"] : [];
      const tar = await gnuTar(tree, format, extra);
      const want = sha256(tar).replace(/^sha256:/, "");
      await t.step(`${format}, all compressions`, async () => {
        const kinds: Array<[string, number, Uint8Array]> = [
          ["none", 0, tar],
          ["gzip", 2, await compressWith("gzip", ["-c"], tar)],
          ["zstd", 4, await compressWith("zstd", ["-c", "-q"], tar)],
          ["bzip2", 1, await compressWith("bzip2", ["-c"], tar)],
          ["xz", 3, await compressWith("xz", ["-c"], tar)],
        ];
        for (const [name, kind, blob] of kinds) {
          const file = join(s.dir, `layer.${name}`);
          await Deno.writeFile(file, blob);
          const made = await cli([...s.flags, "import-layer", "-j", "-f", file]);
          assert.equal(made.code, 0, `${format}/${name}: ${made.stderr}`);
          const layer = JSON.parse(made.stdout);
          assert.equal(layer.compression ?? 0, kind, name);
          assert.equal(layer["diff-digest"], `sha256:${want}`, name);
          assert.equal(layer["diff-size"], tar.length);
          assert.equal(layer["compressed-diff-digest"], sha256(blob));
          assert.equal(layer["compressed-size"], blob.length);
          const diff = await cli([...s.flags, "diff", "-u", layer.id]);
          assert.equal(diff.code, 0, diff.stderr);
          assert.equal(sha256(diff.bytes), `sha256:${want}`, `${format}/${name} diff`);
          if (kind === 1 || kind === 3) {
            // Upstream cannot write these formats; neither can we, with the same words.
            const d = await cli([...s.flags, "diff", layer.id]);
            assert.equal(d.code, 1);
            assert.equal(
              d.stderr,
              `unsupported compression format ${kind === 1 ? "tar.bz2" : "tar.xz"}\n`,
            );
          }
        }
      });
    }
  } finally {
    await s.cleanup();
  }
});

Deno.test("a diff without tar-split is rebuilt from the files", async () => {
  const s = await tempStore();
  try {
    const tree = await utf8Tree(s.dir);
    const file = join(s.dir, "layer.tar");
    await Deno.writeFile(file, await gnuTar(tree, "pax"));
    const id = (await cli([...s.flags, "import-layer", "-f", file])).stdout.trim();
    await Deno.remove(join(s.graph, "vfs-layers", `${id}.tar-split.gz`));
    const diff = await cli([...s.flags, "diff", "-u", id]);
    assert.equal(diff.code, 0, diff.stderr);
    // Extracting the rebuilt stream gives the same tree.
    await Deno.writeFile(join(s.dir, "rebuilt.tar"), diff.bytes);
    const again = (await cli([...s.flags, "import-layer", "-f", join(s.dir, "rebuilt.tar")])).stdout
      .trim();
    const changes = await cli([...s.flags, "changes", again, id]);
    assert.equal(changes.code, 0, changes.stderr);
    assert.equal(changes.stdout, "", "the rebuilt layer differs from the original");
  } finally {
    await s.cleanup();
  }
});

Deno.test("hostile, truncated and corrupt input is refused and leaves nothing behind", async (t) => {
  const s = await tempStore();
  try {
    const outside = join(s.dir, "outside");
    await Deno.mkdir(outside);
    await Deno.writeTextFile(join(outside, "target"), "keep");
    const base = (await cli([...s.flags, "create-layer", "-n", "base"])).stdout.split("\n")[0];
    const good = await gnuTar(await utf8Tree(s.dir), "pax");
    const cases: Record<string, Uint8Array> = {
      "absolute path": archive(rawEntry({ name: `${outside}/abs`, body: "evil" })),
      "../ path": archive(
        rawEntry({ name: "../../../../../../../../outside-escape", body: "evil" }),
      ),
      "PAX path override": archive(
        paxEntry({ path: "../evil" }),
        rawEntry({ name: "fine", body: "e" }),
      ),
      "write through a symlink": archive(
        rawEntry({ name: "l", type: "2", linkname: outside }),
        rawEntry({ name: "l/evil", body: "evil" }),
      ),
      "hard link outside": archive(
        rawEntry({ name: "h", type: "1", linkname: join(outside, "target") }),
      ),
      "whiteout outside": archive(rawEntry({ name: "../.wh.outside" })),
      "truncated tar": good.subarray(0, 100_000),
      "garbage": crypto.getRandomValues(new Uint8Array(4096)),
      "corrupt gzip": new Uint8Array([
        0x1f,
        0x8b,
        0x08,
        0,
        0,
        0,
        0,
        0,
        0,
        3,
        ...crypto.getRandomValues(new Uint8Array(500)),
      ]),
      "truncated gzip": (await compressWith("gzip", ["-c"], good)).subarray(0, 5000),
      "duplicate paths": archive(
        rawEntry({ name: "a", body: "1" }),
        rawEntry({ name: "./a", body: "2" }),
      ),
    };
    const before = await storeState(s.graph);
    for (const [name, bytes] of Object.entries(cases)) {
      await t.step(name, async () => {
        const file = join(s.dir, "input");
        await Deno.writeFile(file, bytes);
        for (
          const args of [["import-layer", "-f", file], ["import-layer", "-f", file, "base"], [
            "applydiff",
            "-f",
            file,
            base,
          ]]
        ) {
          const r = await cli([...s.flags, ...args]);
          assert.equal(r.code, 1, `${args[0]} accepted ${name}`);
          assert.notEqual(r.stderr.trim(), "", "no error message");
          assert.equal(
            await storeState(s.graph),
            before,
            `${args[0]} of ${name} left something behind`,
          );
          assert.deepEqual([...Deno.readDirSync(outside)].map((e) => e.name), ["target"]);
          assert.equal(await Deno.readTextFile(join(outside, "target")), "keep");
        }
        // The base layer is untouched and the store still opens.
        assert.deepEqual([...Deno.readDirSync(join(s.graph, "vfs", "dir", base))], []);
        assert.equal((await cli([...s.flags, "layers"])).code, 0);
      });
    }
    const msgs = async (bytes: Uint8Array) => {
      await Deno.writeFile(join(s.dir, "m"), bytes);
      return (await cli([...s.flags, "import-layer", "-f", join(s.dir, "m")])).stderr;
    };
    assert.match(await msgs(cases["truncated tar"]), /unexpected EOF/);
    assert.match(await msgs(cases["garbage"]), /invalid tar header/);
    assert.match(await msgs(cases["duplicate paths"]), /duplicates of file paths not supported/);
    assert.match(await msgs(cases["../ path"]), /outside-escape/);
  } finally {
    await s.cleanup();
  }
});

Deno.test("a 2 GiB stream of zeros (gzip, a few MiB) is applied in bounded memory", async () => {
  const s = await tempStore();
  try {
    const gz = join(s.dir, "zeros.gz");
    const make = new Deno.Command("sh", {
      args: ["-c", `head -c 2147483648 /dev/zero | gzip -1 > ${gz}`],
    });
    assert.equal((await make.output()).code, 0);
    assert.ok((await Deno.stat(gz)).size < 16 << 20);
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-check",
        "-A",
        join(import.meta.dirname!, "..", "cli.ts"),
        ...s.flags,
        "import-layer",
        "-j",
        "-f",
        gz,
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // VmHWM is the process's peak resident set, read just before it exits.
    let peak = 0;
    const poll = setInterval(() => {
      try {
        const status = Deno.readTextFileSync(`/proc/${child.pid}/status`);
        peak = Math.max(peak, Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0));
      } catch { /* exited */ }
    }, 100);
    const out = await child.output();
    clearInterval(poll);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const layer = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.equal(layer["diff-size"], 2 ** 31);
    // Before the fix this was 2.8 GiB; the target for the whole apply is in the benchmarks.
    assert.ok(peak < 400 * 1024, `peak resident memory ${Math.round(peak / 1024)} MiB`);
  } finally {
    await s.cleanup();
  }
});

Deno.test("cstor without --allow-ffi still applies plain files, and refuses devices clearly", async () => {
  const s = await tempStore();
  try {
    const perms = [`--allow-read`, `--allow-write=${s.dir}`];
    const file = join(s.dir, "plain.tar");
    await Deno.writeFile(file, archive(rawEntry({ name: "a", body: "x" })));
    const r = await cstorProcess([...s.flags, "import-layer", "-f", file], { permissions: perms });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Go processes/, "the one-time warning about locks");
    const dev = join(s.dir, "dev.tar");
    await Deno.writeFile(
      dev,
      archive(rawEntry({ name: "null", type: "3", devmajor: 1, devminor: 3 })),
    );
    const d = await cstorProcess([...s.flags, "import-layer", "-f", dev], { permissions: perms });
    assert.equal(d.code, 1);
    assert.match(d.stderr, /--allow-ffi/);
  } finally {
    await s.cleanup();
  }
});
