/**
 * Extraction against GNU tar: the same archive extracted by `tar -x` and by
 * extractTar must give the same tree (types, modes, owners, sizes, times,
 * contents, xattrs, link targets, hard-link structure), plus whiteouts in
 * the three modes and ID-mapped extraction.
 */

import assert from "node:assert/strict";
import { type ExtractOptions, extractTar } from "../src/archive/extract.ts";
import { readTar } from "../src/archive/tar_reader.ts";
import { type TarWriteHeader, TarWriter } from "../src/archive/tar_writer.ts";
import { ffiAvailable } from "../src/sys/libc.ts";
import { readXattrs, walkTree } from "../src/archive/tree_walk.ts";

const isRoot = Deno.uid() === 0;
const hasFFI = ffiAvailable();
const hasTar = (() => {
  try {
    return new Deno.Command("tar", { args: ["--version"], stdout: "null" }).outputSync().success;
  } catch {
    return false;
  }
})();
/** The reason a test cannot run here, or "" when it can (shown in the test name). */
function lacking(opts: { root?: boolean; ffi?: boolean; tar?: boolean }): string {
  if (opts.root && !isRoot) return " (skipped: needs root)";
  if (opts.ffi && !hasFFI) return " (skipped: needs --allow-ffi)";
  if (opts.tar && !hasTar) return " (skipped: needs GNU tar)";
  return "";
}

function sh(script: string, cwd?: string): void {
  const out = new Deno.Command("bash", { args: ["-ec", script], cwd, stderr: "piped" })
    .outputSync();
  if (!out.success) {
    throw new Error(`shell failed: ${new TextDecoder().decode(out.stderr)}\n${script}`);
  }
}

async function tarFileReader(path: string) {
  const f = await Deno.open(path);
  return readTar(f.readable);
}

/** A comparable description of every path below `root` (and the root itself). */
function snapshot(
  root: string,
  opts: { xattrs?: boolean; times?: boolean } = {},
): Map<string, string> {
  const out = new Map<string, string>();
  const firstOfInode = new Map<number, string>();
  const describe = (rel: string, abs: string, info: Deno.FileInfo): string => {
    const type = info.isSymlink
      ? "l"
      : info.isDirectory
      ? "d"
      : info.isFile
      ? "f"
      : info.isCharDevice
      ? "c"
      : info.isBlockDevice
      ? "b"
      : info.isFifo
      ? "p"
      : "s";
    const parts = [type, `uid=${info.uid}`, `gid=${info.gid}`];
    if (type !== "l") parts.push(`mode=${((info.mode ?? 0) & 0o7777).toString(8)}`);
    if (type === "f") {
      parts.push(`size=${info.size}`);
      const data = Deno.readFileSync(abs);
      let h = 0;
      for (const b of data) h = (h * 31 + b) >>> 0;
      parts.push(`hash=${h}`);
      if (info.nlink! > 1) {
        const first = firstOfInode.get(info.ino!);
        if (first === undefined) firstOfInode.set(info.ino!, rel);
        else parts.push(`link=${first}`);
      }
    }
    if (type === "l") parts.push(`-> ${Deno.readLinkSync(abs)}`);
    if (type === "c" || type === "b") parts.push(`rdev=${info.rdev}`);
    if (opts.times !== false && type !== "l") parts.push(`mtime=${info.mtime?.getTime()}`);
    if (opts.xattrs !== false && hasFFI) {
      const xs = readXattrs(abs);
      if (xs && xs.size > 0) {
        const names = [...xs.keys()].sort();
        parts.push(`xattrs=${names.map((n) => `${n}:${[...xs.get(n)!].join(",")}`).join(";")}`);
      }
    }
    return parts.join(" ");
  };
  out.set(".", describe(".", root, Deno.lstatSync(root)));
  walkTree(root, (e) => {
    out.set(e.rel, describe(e.rel, e.abs, e.info));
  });
  return out;
}

function assertSameTree(actual: Map<string, string>, expected: Map<string, string>): void {
  const diffs: string[] = [];
  for (const [k, v] of expected) {
    const a = actual.get(k);
    if (a !== v) diffs.push(`${k}:\n  tar -x:  ${v}\n  cstor:   ${a ?? "(missing)"}`);
  }
  for (const k of actual.keys()) if (!expected.has(k)) diffs.push(`${k}: extra in cstor`);
  assert.equal(diffs.length, 0, diffs.join("\n"));
}

/** A source tree with every kind of entry GNU tar can archive. */
function makeSourceTree(src: string): void {
  const long = "d".repeat(60) + "/" + "e".repeat(70) + "/" + "f".repeat(120);
  sh(`
    mkdir -p "${src}"; cd "${src}"
    mkdir -p empty sub/deeper "${long}" sticky
    printf 'hello\\n' > sub/hello.txt
    head -c 300000 /dev/urandom > sub/big.bin
    head -c 3000000 /dev/urandom > big3m.bin
    : > empty.file
    printf 'x' > "${long}/file-with-a-very-long-name-$(printf 'n%.0s' $(seq 1 120))"
    printf 'suid' > suid; chmod 4755 suid
    printf 'sgid' > sgid; chmod 2711 sgid
    chmod 1777 sticky
    printf 'odd' > odd; chmod 0 odd
    printf 'owned' > owned; chown 1234:5678 owned
    chown 4000:4001 sub/deeper
    ln sub/hello.txt hardlink1; ln sub/hello.txt sub/deeper/hardlink2
    ln -s sub/hello.txt rel-link; ln -s /etc/passwd abs-link; ln -s nowhere dangling
    ln -s sub dirlink
    mknod chardev c 1 3; mknod blockdev b 7 0; mkfifo fifo
    chown -h 77:88 rel-link
    printf 'ü' > "ünïcödé name"
    python3 -c "import os; os.setxattr('sub/hello.txt','user.greeting',b'hi'); os.setxattr('suid','security.capability',bytes([1,0,0,2,0,32,0,0]+[0]*12)); os.setxattr('sub','user.dir',b'\\x00\\xff')"
    touch -h -d '2001-02-03 04:05:06' rel-link
    find . -mindepth 1 -not -type l -not -name 'hello.txt' -exec touch -d '2010-01-01 00:00:01' {} +
    touch -d '1999-12-31 23:59:59' sub/hello.txt
    touch -d '2020-05-05 05:05:05' sub "${long}" .
  `);
}

Deno.test({
  name: "extract: GNU tar archives extract like tar -x (gnu and posix formats)" +
    lacking({ root: true, ffi: true, tar: true }),
  ignore: lacking({ root: true, ffi: true, tar: true }) !== "",
  async fn(t) {
    const dir = Deno.makeTempDirSync({ prefix: "cstor-extract-" });
    try {
      const src = `${dir}/src`;
      makeSourceTree(src);
      for (const format of ["gnu", "posix"]) {
        await t.step(format, async () => {
          const tarPath = `${dir}/a-${format}.tar`;
          sh(`tar --format=${format} --xattrs --xattrs-include='*' -cf "${tarPath}" -C "${src}" .`);
          const ref = `${dir}/ref-${format}`;
          const ours = `${dir}/ours-${format}`;
          Deno.mkdirSync(ref);
          Deno.mkdirSync(ours);
          sh(
            `tar --xattrs --xattrs-include='*' --same-owner --numeric-owner -xpf "${tarPath}" -C "${ref}"`,
          );
          const res = await extractTar(await tarFileReader(tarPath), ours, { whiteouts: "delete" });
          assert.ok(res.size >= 3_300_000);
          assertSameTree(snapshot(ours), snapshot(ref));
        });
      }
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "extract: into a non-empty tree replaces files, merges directories" +
    lacking({ root: true, tar: true }),
  ignore: lacking({ root: true, tar: true }) !== "",
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "cstor-extract-" });
    try {
      const src = `${dir}/src`;
      sh(
        `mkdir -p "${src}/a/b" "${src}/c"; printf new > "${src}/a/b/f"; printf dirnow > "${src}/c/x"
          ln -s a "${src}/wasdir"; chmod 700 "${src}/a"`,
      );
      sh(`tar -cf "${dir}/t.tar" -C "${src}" a c wasdir`);
      const ours = `${dir}/ours`;
      sh(`mkdir -p "${ours}/a/b" "${ours}/wasdir/inner"; printf old > "${ours}/a/b/f"
          printf keep > "${ours}/a/keep"; printf file > "${ours}/c"; chmod 755 "${ours}/a"`);
      // A second name for the old inode: it must keep the old content.
      Deno.linkSync(`${ours}/a/b/f`, `${dir}/witness`);
      await extractTar(await tarFileReader(`${dir}/t.tar`), ours, { whiteouts: "delete" });
      assert.deepEqual(listTree(ours), ["a/", "a/b/", "a/b/f", "a/keep", "c/", "c/x", "wasdir"]);
      assert.equal(
        Deno.lstatSync(`${ours}/a`).mode! & 0o777,
        0o700,
        "merged dir takes the entry's mode",
      );
      assert.equal(Deno.readTextFileSync(`${ours}/a/keep`), "keep");
      assert.equal(Deno.readTextFileSync(`${ours}/a/b/f`), "new");
      assert.equal(
        Deno.readTextFileSync(`${dir}/witness`),
        "old",
        "files are replaced, not rewritten",
      );
      assert.equal(Deno.readLinkSync(`${ours}/wasdir`), "a");
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

/** Builds an in-memory tar with the project's writer. */
async function buildTar(entries: Array<TarWriteHeader & { body?: string }>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const tw = new TarWriter({ write: (c) => (chunks.push(c.slice()), Promise.resolve()) });
  for (const e of entries) {
    const body = e.body === undefined ? undefined : new TextEncoder().encode(e.body);
    await tw.writeEntry(
      { mode: 0o644, mtimeSec: 1_600_000_000, ...e, size: body?.length ?? 0 },
      body,
    );
  }
  await tw.close();
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

function readerOf(bytes: Uint8Array) {
  return readTar(ReadableStream.from([bytes]));
}

async function extractBytes(bytes: Uint8Array, dest: string, opts: ExtractOptions) {
  return await extractTar(readerOf(bytes), dest, opts);
}

function listTree(root: string): string[] {
  const out: string[] = [];
  walkTree(root, (e) => {
    out.push(e.info.isDirectory ? e.rel + "/" : e.rel);
  });
  return out;
}

/** A lower tree as a parent layer leaves it, for whiteout tests. */
function makeLower(dest: string): void {
  sh(`mkdir -p "${dest}/etc/conf.d" "${dest}/opq/sub" "${dest}/keepdir"
      printf a > "${dest}/etc/a"; printf b > "${dest}/etc/conf.d/b"; printf c > "${dest}/opq/old"
      printf d > "${dest}/opq/sub/old2"; printf k > "${dest}/keepdir/k"; printf r > "${dest}/rootfile"`);
}

const WHITEOUT_TAR = [
  { name: "etc/", type: "5", mode: 0o755 },
  { name: "etc/.wh.a", type: "0" },
  { name: "etc/.wh.conf.d", type: "0" },
  { name: "opq/", type: "5", mode: 0o750 },
  { name: "opq/.wh..wh..opq", type: "0" },
  { name: "opq/new", type: "0", body: "new" },
  { name: "opq/sub/", type: "5", mode: 0o755 },
  { name: ".wh.rootfile", type: "0" },
  { name: ".wh.missing", type: "0" },
];

Deno.test("extract: whiteouts, delete mode (vfs)", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "cstor-wh-" });
  try {
    makeLower(dir);
    const bytes = await buildTar(WHITEOUT_TAR);
    await extractBytes(bytes, dir, { whiteouts: "delete", ignoreChownErrors: !isRoot });
    assert.deepEqual(listTree(dir), [
      "etc/",
      "keepdir/",
      "keepdir/k",
      "opq/",
      "opq/new",
      "opq/sub/",
    ]);
    assert.equal(Deno.lstatSync(`${dir}/opq`).mode! & 0o777, 0o750);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test({
  name: "extract: whiteouts, overlay mode (char devices and opaque xattr)" +
    lacking({ root: true, ffi: true }),
  ignore: lacking({ root: true, ffi: true }) !== "",
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "cstor-wh-" });
    try {
      const bytes = await buildTar([
        ...WHITEOUT_TAR,
        { name: "gone/.wh.x", type: "0", uid: 5, gid: 6 },
      ]);
      await extractBytes(bytes, dir, { whiteouts: "overlay" });
      assert.deepEqual(listTree(dir), [
        "etc/",
        "etc/a",
        "etc/conf.d",
        "gone/",
        "gone/x",
        "missing",
        "opq/",
        "opq/new",
        "opq/sub/",
        "rootfile",
      ]);
      for (const p of ["etc/a", "etc/conf.d", "rootfile", "missing", "gone/x"]) {
        const st = Deno.lstatSync(`${dir}/${p}`);
        assert.ok(st.isCharDevice, p);
        assert.equal(st.rdev, 0);
      }
      assert.equal(Deno.lstatSync(`${dir}/gone/x`).uid, 5);
      assert.equal(Deno.lstatSync(`${dir}/gone/x`).gid, 6);
      const xs = readXattrs(`${dir}/opq`)!;
      assert.deepEqual([...xs.get("trusted.overlay.opaque")!], [0x79]);
      assert.equal(readXattrs(`${dir}/etc`)!.has("trusted.overlay.opaque"), false);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "extract: overlay mode drops overlay xattrs carried by the archive" +
    lacking({ root: true, ffi: true }),
  ignore: lacking({ root: true, ffi: true }) !== "",
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "cstor-wh-" });
    try {
      const enc = new TextEncoder();
      const bytes = await buildTar([{
        name: "d/",
        type: "5",
        xattrs: new Map([["trusted.overlay.redirect", enc.encode("/etc")], [
          "user.ok",
          enc.encode("1"),
        ]]),
      }]);
      await extractBytes(bytes, dir, { whiteouts: "overlay" });
      assert.deepEqual([...readXattrs(`${dir}/d`)!.keys()], ["user.ok"]);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test("extract: whiteouts, aufs mode writes them verbatim", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "cstor-wh-" });
  try {
    const bytes = await buildTar(WHITEOUT_TAR);
    await extractBytes(bytes, dir, { whiteouts: "aufs", ignoreChownErrors: !isRoot });
    assert.deepEqual(listTree(dir), [
      ".wh.missing",
      ".wh.rootfile",
      "etc/",
      "etc/.wh.a",
      "etc/.wh.conf.d",
      "opq/",
      "opq/.wh..wh..opq",
      "opq/new",
      "opq/sub/",
    ]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("extract: opaque whiteout keeps what the same stream created", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "cstor-wh-" });
  try {
    makeLower(dir);
    const bytes = await buildTar([
      { name: "opq/sub/", type: "5" },
      { name: "opq/sub/fresh", type: "0", body: "f" },
      { name: "opq/.wh..wh..opq", type: "0" },
    ]);
    await extractBytes(bytes, dir, { whiteouts: "delete", ignoreChownErrors: !isRoot });
    assert.deepEqual(listTree(`${dir}/opq`), ["sub/", "sub/fresh"]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("extract: duplicate names after cleaning are refused", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "cstor-dup-" });
  try {
    const bytes = await buildTar([
      { name: "a", type: "0", body: "1" },
      { name: "./a", type: "0", body: "2" },
    ]);
    await assert.rejects(
      extractBytes(bytes, dir, { whiteouts: "delete", ignoreChownErrors: true }),
      /duplicates of file paths not supported/,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test({
  name: "extract: ID maps turn container owners into host owners" + lacking({ root: true }),
  ignore: lacking({ root: true }) !== "",
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "cstor-map-" });
    try {
      const bytes = await buildTar([
        { name: "implied/dir/f", type: "0", uid: 0, gid: 0, body: "x" },
        { name: "u1000", type: "0", uid: 1000, gid: 100, mode: 0o4755, body: "y" },
        { name: "ln", type: "2", linkname: "u1000", uid: 1, gid: 1 },
      ]);
      const maps = {
        uidMap: [{ container_id: 0, host_id: 100000, size: 65536 }],
        gidMap: [{ container_id: 0, host_id: 200000, size: 65536 }],
      };
      await extractBytes(bytes, dir, { whiteouts: "delete", ...maps });
      const st = (p: string) => Deno.lstatSync(`${dir}/${p}`);
      assert.deepEqual([st("implied").uid, st("implied").gid], [100000, 200000]);
      assert.deepEqual([st("implied/dir/f").uid, st("implied/dir/f").gid], [100000, 200000]);
      assert.deepEqual([st("u1000").uid, st("u1000").gid], [101000, 200100]);
      assert.equal(st("u1000").mode! & 0o7777, 0o4755, "setuid survives the chown");
      assert.deepEqual([st("ln").uid, st("ln").gid], [100001, 200001]);

      const unmapped = await buildTar([{ name: "far", type: "0", uid: 70000, gid: 0, body: "" }]);
      const dir2 = `${dir}/second`;
      await assert.rejects(
        extractBytes(unmapped, dir2, { whiteouts: "delete", ...maps }),
        /entry "far".*container UID 70000 cannot be mapped/,
      );
      await extractBytes(unmapped, `${dir}/third`, {
        whiteouts: "delete",
        ignoreChownErrors: true,
        ...maps,
      });
      assert.equal(st("third/far").uid, 0);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test("extract: AUFS hard-link directory resolves and is not extracted", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "cstor-plnk-" });
  try {
    const bytes = await buildTar([
      { name: ".wh..wh.plnk/", type: "5" },
      { name: ".wh..wh.plnk/1234", type: "0", body: "shared" },
      { name: "a", type: "1", linkname: ".wh..wh.plnk/1234" },
      { name: "b", type: "1", linkname: ".wh..wh.plnk/1234" },
    ]);
    await extractBytes(bytes, dir, { whiteouts: "delete", ignoreChownErrors: true });
    assert.deepEqual(listTree(dir), ["a", "b"]);
    assert.equal(Deno.readTextFileSync(`${dir}/b`), "shared");
    assert.equal(Deno.lstatSync(`${dir}/a`).ino, Deno.lstatSync(`${dir}/b`).ino);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
