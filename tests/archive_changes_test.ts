/**
 * Tree copies, change detection, diff export and diff sizes: known edits
 * between a parent and a child tree give the exact change list, and a diff
 * applied to a copy of the parent gives the child back.
 */

import assert from "node:assert/strict";
import { type Change, changes, overlayChanges } from "../src/archive/changes.ts";
import { copyTree } from "../src/archive/copy_tree.ts";
import { naiveDiff, overlayDiff } from "../src/archive/diff_tar.ts";
import { changesSize, naiveDiffSize, overlayDiffSize } from "../src/archive/diff_size.ts";
import { extractTar } from "../src/archive/extract.ts";
import { readTar } from "../src/archive/tar_reader.ts";
import { readXattrs, walkTree, writeXattr } from "../src/archive/tree_walk.ts";
import { ffiAvailable, mknod, S_IFCHR } from "../src/sys/libc.ts";

const isRoot = Deno.uid() === 0;
const hasFFI = ffiAvailable();
const ok = isRoot && hasFFI;
const why = !isRoot ? " (skipped: needs root)" : !hasFFI ? " (skipped: needs --allow-ffi)" : "";
const enc = new TextEncoder();

function sh(script: string): void {
  const out = new Deno.Command("bash", { args: ["-ec", script], stderr: "piped" }).outputSync();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
}

/** type/mode/owner/size/content/link/rdev/mtime/xattrs of every path, hard links as "link=first". */
function snapshot(root: string, opts: { rootTime?: boolean } = {}): Map<string, string> {
  const out = new Map<string, string>();
  const inodes = new Map<number, string>();
  const describe = (rel: string, abs: string, info: Deno.FileInfo): string => {
    const t = info.isSymlink
      ? "l"
      : info.isDirectory
      ? "d"
      : info.isFile
      ? "f"
      : info.isCharDevice
      ? "c"
      : "o";
    const parts = [t, `${info.uid}:${info.gid}`];
    if (t !== "l") parts.push(((info.mode ?? 0) & 0o7777).toString(8));
    if (t === "f") {
      parts.push(`size=${info.size}`, `data=${[...Deno.readFileSync(abs)].slice(0, 64).join(",")}`);
    }
    if (t === "l") parts.push(`-> ${Deno.readLinkSync(abs)}`);
    if (t === "c") parts.push(`rdev=${info.rdev}`);
    if (t !== "l" && (rel !== "." || opts.rootTime)) parts.push(`mtime=${info.mtime?.getTime()}`);
    if (t !== "d" && info.nlink! > 1) {
      const first = inodes.get(info.ino!);
      if (first === undefined) inodes.set(info.ino!, rel);
      else parts.push(`link=${first}`);
    }
    const xs = hasFFI ? readXattrs(abs) : null;
    if (xs && xs.size) parts.push([...xs].map(([k, v]) => `${k}=${[...v]}`).sort().join(";"));
    return parts.join(" ");
  };
  out.set(".", describe(".", root, Deno.lstatSync(root)));
  walkTree(root, (e) => {
    out.set(e.rel, describe(e.rel, e.abs, e.info));
  });
  return out;
}

function assertSame(actual: Map<string, string>, expected: Map<string, string>): void {
  const diffs: string[] = [];
  for (const [k, v] of expected) {
    if (actual.get(k) !== v) {
      diffs.push(`${k}\n  want ${v}\n  got  ${actual.get(k) ?? "(missing)"}`);
    }
  }
  for (const k of actual.keys()) if (!expected.has(k)) diffs.push(`${k}: unexpected`);
  assert.equal(diffs.length, 0, diffs.join("\n"));
}

/** Sets every time below `root` to whole seconds (tar keeps whole seconds only). */
function wholeSeconds(root: string): void {
  walkTree(root, (e) => {
    if (e.info.isSymlink) return;
    Deno.utimeSync(e.abs, 1_500_000_000, Math.floor(e.info.mtime!.getTime() / 1000));
  });
}

/** A parent layer with a bit of everything. */
function makeParent(p: string): void {
  sh(`
    mkdir -p "${p}/etc/conf.d" "${p}/usr/bin" "${p}/var/lib/gone/deep" "${p}/todir" "${p}/keep"
    printf 'root:x:0:0\\n' > "${p}/etc/passwd"; printf 'a' > "${p}/etc/conf.d/a"; printf 'b' > "${p}/etc/conf.d/b"
    printf 'bin' > "${p}/usr/bin/tool"; printf 'mode' > "${p}/usr/bin/modeonly"; printf 'own' > "${p}/usr/bin/owned"
    printf 'x' > "${p}/var/lib/gone/deep/x"; printf 'f' > "${p}/tofile_was_dir_marker"
    printf 'soon a dir' > "${p}/becomes_dir"; mkdir -p "${p}/becomes_file/inner"; printf i > "${p}/becomes_file/inner/i"
    printf 'k' > "${p}/keep/k"; printf 'touched' > "${p}/keep/touched"; ln "${p}/keep/k" "${p}/keep/k2"
    ln -s ../etc/passwd "${p}/usr/bin/link"; printf c > "${p}/usr/bin/cap"
    touch -h -d '2015-01-01 00:00:00' $(find "${p}" -mindepth 1)
  `);
}

/** The edits a container makes, and the change list they must give. */
function editChild(c: string): Change[] {
  sh(`
    printf 'root:x:0:0\\nuser:x:1000:1000\\n' > "${c}/etc/passwd"
    rm "${c}/etc/conf.d/b"
    rm -r "${c}/var/lib/gone"
    chmod 4755 "${c}/usr/bin/modeonly"
    chown 1000:1000 "${c}/usr/bin/owned"
    mkdir -p "${c}/opt/new/sub"; printf n > "${c}/opt/new/sub/file"
    rm "${c}/becomes_dir"; mkdir "${c}/becomes_dir"; printf y > "${c}/becomes_dir/y"
    rm -r "${c}/becomes_file"; printf 'now a file' > "${c}/becomes_file"
    touch -d '2016-06-06 06:06:06' "${c}/keep/touched"
    ln -sf /bin/sh "${c}/usr/bin/link"
  `);
  writeXattr(
    `${c}/usr/bin/cap`,
    "security.capability",
    new Uint8Array([1, 0, 0, 2, 0, 32, 0, 0, ...new Array(12).fill(0)]),
  );
  return [
    { Path: "/becomes_dir", Kind: 0 },
    { Path: "/becomes_dir/y", Kind: 1 },
    { Path: "/becomes_file", Kind: 0 },
    { Path: "/etc", Kind: 0 },
    { Path: "/etc/conf.d", Kind: 0 },
    { Path: "/etc/conf.d/b", Kind: 2 },
    { Path: "/etc/passwd", Kind: 0 },
    { Path: "/keep", Kind: 0 },
    { Path: "/keep/touched", Kind: 0 },
    { Path: "/opt", Kind: 1 },
    { Path: "/opt/new", Kind: 1 },
    { Path: "/opt/new/sub", Kind: 1 },
    { Path: "/opt/new/sub/file", Kind: 1 },
    { Path: "/usr", Kind: 0 },
    { Path: "/usr/bin", Kind: 0 },
    { Path: "/usr/bin/cap", Kind: 0 },
    { Path: "/usr/bin/link", Kind: 0 },
    { Path: "/usr/bin/modeonly", Kind: 0 },
    { Path: "/usr/bin/owned", Kind: 0 },
    { Path: "/var", Kind: 0 },
    { Path: "/var/lib", Kind: 0 },
    { Path: "/var/lib/gone", Kind: 2 },
  ];
}

async function withTmp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = Deno.makeTempDirSync({ prefix: "cstor-changes-" });
  try {
    await fn(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test({
  name: "copyTree keeps contents, links, devices, owners, modes, xattrs and times" + why,
  ignore: !ok,
  fn: () =>
    withTmp(async (dir) => {
      const src = `${dir}/src`;
      makeParent(src);
      sh(`cd "${src}"; mknod dev c 1 3; mkfifo fifo; chmod 1777 keep; chown -h 7:8 usr/bin/link
          chmod 2750 etc; chown 3:4 etc; python3 -c "import socket; s=socket.socket(socket.AF_UNIX); s.bind('sock')"`);
      writeXattr(`${src}/etc/passwd`, "user.note", enc.encode("hi"));
      writeXattr(`${src}/etc`, "trusted.t", enc.encode("t"));
      Deno.utimeSync(src, 1_400_000_000, 1_400_000_000.25);
      await copyTree(src, `${dir}/dst`);
      const want = snapshot(src, { rootTime: true });
      assertSame(snapshot(`${dir}/dst`, { rootTime: true }), want);
      assert.ok(want.get("keep/k2")!.includes("link=keep/k"));
      assert.ok(want.get("sock")!.startsWith("o "));
    }),
});

Deno.test({
  name: "copyTree: many files copied in parallel keep their hard-link groups" + why,
  ignore: !ok,
  fn: () =>
    withTmp(async (dir) => {
      sh(`mkdir -p "${dir}/src"; cd "${dir}/src"
          for d in $(seq 1 10); do mkdir -p "d$d"; for f in $(seq 1 40); do head -c $((f * 100)) /dev/urandom > "d$d/f$f"; done; done
          for d in $(seq 2 10); do ln d1/f1 "d$d/link-to-d1f1"; ln "d$d/f40" "d1/back$d"; done
          chmod 4711 d3/f3; chown 12:34 d4/f4`);
      await copyTree(`${dir}/src`, `${dir}/dst`, { yieldEvery: 7 });
      assertSame(
        snapshot(`${dir}/dst`, { rootTime: true }),
        snapshot(`${dir}/src`, { rootTime: true }),
      );
    }),
});

Deno.test({
  name: "changes: known edits give the exact change list" + why,
  ignore: !ok,
  fn: () =>
    withTmp(async (dir) => {
      makeParent(`${dir}/parent`);
      await copyTree(`${dir}/parent`, `${dir}/child`);
      assert.deepEqual(await changes(`${dir}/child`, `${dir}/parent`), []);
      const want = editChild(`${dir}/child`);
      assert.deepEqual(await changes(`${dir}/child`, `${dir}/parent`), want);
      // Owners are compared as container IDs: the same edit seen through maps.
      const maps = { uidMap: [{ container_id: 0, host_id: 0, size: 5000 }] };
      assert.deepEqual(await changes(`${dir}/child`, `${dir}/parent`, maps), want);
    }),
});

Deno.test({
  name: "changes: no parent means everything is added" + why,
  ignore: !ok,
  fn: () =>
    withTmp(async (dir) => {
      sh(`mkdir -p "${dir}/l/a/b"; : > "${dir}/l/a/b/c"; : > "${dir}/l/z"`);
      assert.deepEqual(await changes(`${dir}/l`, undefined), [
        { Path: "/a", Kind: 1 },
        { Path: "/a/b", Kind: 1 },
        { Path: "/a/b/c", Kind: 1 },
        { Path: "/z", Kind: 1 },
      ]);
    }),
});

Deno.test({
  name: "changes: owners are compared after mapping to container IDs" + why,
  ignore: !ok,
  fn: () =>
    withTmp(async (dir) => {
      sh(`mkdir -p "${dir}/p" "${dir}/c"; printf x > "${dir}/p/f"; printf x > "${dir}/c/f"
          touch -d '2015-01-01' "${dir}/p/f" "${dir}/c/f"; chown 100005:100005 "${dir}/c/f"; chown 5:5 "${dir}/p/f"`);
      const m = [{ container_id: 0, host_id: 100000, size: 65536 }];
      assert.deepEqual(
        await changes(`${dir}/c`, `${dir}/p`, {
          uidMap: m,
          gidMap: m,
          parentUidMap: [],
          parentGidMap: [],
        }),
        [],
      );
      assert.deepEqual(await changes(`${dir}/c`, `${dir}/p`), [{ Path: "/f", Kind: 0 }]);
    }),
});

async function extractStream(stream: ReadableStream<Uint8Array>, dest: string): Promise<void> {
  await extractTar(readTar(stream), dest, { whiteouts: "delete" });
}

Deno.test({
  name: "naive diff applied to a copy of the parent gives the child" + why,
  ignore: !ok,
  fn: () =>
    withTmp(async (dir) => {
      makeParent(`${dir}/parent`);
      await copyTree(`${dir}/parent`, `${dir}/child`);
      editChild(`${dir}/child`);
      wholeSeconds(`${dir}/child`);
      await copyTree(`${dir}/parent`, `${dir}/applied`);
      await extractStream(
        naiveDiff(`${dir}/child`, `${dir}/parent`, { settle: false }),
        `${dir}/applied`,
      );
      assertSame(snapshot(`${dir}/applied`), snapshot(`${dir}/child`));

      // Without a parent: the whole tree, into an empty directory.
      await extractStream(naiveDiff(`${dir}/child`, undefined, { settle: false }), `${dir}/whole`);
      assertSame(snapshot(`${dir}/whole`), snapshot(`${dir}/child`));
    }),
});

async function entries(stream: ReadableStream<Uint8Array>): Promise<string[]> {
  const r = readTar(stream);
  const out: string[] = [];
  for (let e = await r.next(); e; e = await r.next()) {
    const h = e.header;
    let d = `${h.name} ${h.type} ${h.mode.toString(8)} ${h.uid}:${h.gid}`;
    if (h.linkname) d += ` -> ${h.linkname}`;
    if (h.xattrs.size) d += ` [${[...h.xattrs.keys()].sort().join(",")}]`;
    out.push(d);
  }
  return out;
}

Deno.test({
  name:
    "naive diff: entry names, hard links, whiteouts, carried xattrs, mapped owners, no sockets" +
    why,
  ignore: !ok,
  fn: () =>
    withTmp(async (dir) => {
      sh(`mkdir -p "${dir}/p/d" "${dir}/c/d"; printf x > "${dir}/p/gone"
          printf 1 > "${dir}/c/d/f1"; ln "${dir}/c/d/f1" "${dir}/c/d/f2"; chmod 644 "${dir}/c/d/f1"
          python3 -c "import socket; s=socket.socket(socket.AF_UNIX); s.bind('${dir}/c/sock')"
          chown 100000:100000 "${dir}/c/d" "${dir}/c/d/f1"; chmod 755 "${dir}/c/d"`);
      writeXattr(`${dir}/c/d/f1`, "user.keep", enc.encode("1"));
      writeXattr(`${dir}/c/d/f1`, "trusted.drop", enc.encode("1"));
      const m = [{ container_id: 0, host_id: 100000, size: 65536 }];
      const list = await entries(
        naiveDiff(`${dir}/c`, `${dir}/p`, {
          settle: false,
          uidMap: m,
          gidMap: m,
          parentUidMap: [],
          parentGidMap: [],
        }),
      );
      assert.deepEqual(list, [
        "d/ 5 755 0:0",
        "d/f1 0 644 0:0 [user.keep]",
        "d/f2 1 644 0:0 -> d/f1 [user.keep]",
        ".wh.gone 0 0 0:0",
      ]);
    }),
});

Deno.test({
  name: "naive diff waits for the next second unless told not to" + why,
  ignore: !ok,
  fn: () =>
    withTmp(async (dir) => {
      Deno.mkdirSync(`${dir}/c`);
      const start = Date.now();
      await entries(naiveDiff(`${dir}/c`, undefined));
      assert.ok(Math.floor(Date.now() / 1000) > Math.floor(start / 1000));
    }),
});

/** A lower layer and an overlay upper (diff) with whiteouts and opaque dirs. */
function makeOverlay(dir: string): { diff: string; lowers: string[] } {
  const l1 = `${dir}/l1`;
  const l2 = `${dir}/l2`;
  const diff = `${dir}/diff`;
  sh(`mkdir -p "${l2}/etc" "${l2}/opq/old" "${l2}/wh" "${l2}/same" "${l1}/etc" "${l1}/newdir_parent"
      printf a > "${l2}/etc/a"; printf b > "${l2}/etc/b"; printf o > "${l2}/opq/old/o"; printf w > "${l2}/wh/w"
      printf c > "${l1}/etc/c"
      mkdir -p "${diff}/etc" "${diff}/opq/fresh" "${diff}/newopq" "${diff}/wh" "${diff}/same"
      printf A > "${diff}/etc/a"; printf n > "${diff}/etc/new"; printf f > "${diff}/opq/fresh/f"
      printf w2 > "${diff}/wh/w"
      touch -d '2015-01-01' "${l2}/same" "${diff}/same" "${l1}/etc" "${l2}/etc"
      chmod 755 "${l2}/same" "${diff}/same"`);
  mknod(`${diff}/etc/b`, S_IFCHR, 0, 0);
  mknod(`${l1}/wh`, S_IFCHR, 0, 0);
  writeXattr(`${diff}/opq`, "trusted.overlay.opaque", enc.encode("y"));
  writeXattr(`${diff}/newopq`, "trusted.overlay.opaque", enc.encode("y"));
  return { diff, lowers: [l1, l2] };
}

Deno.test({
  name: "overlayChanges: whiteouts, opaque dirs, lower whiteouts, skipped equal dirs" + why,
  ignore: !ok,
  fn: () =>
    withTmp(async (dir) => {
      const { diff, lowers } = makeOverlay(dir);
      const got = await overlayChanges(diff, lowers);
      assert.deepEqual(got, [
        { Path: "/etc", Kind: 0 },
        { Path: "/etc/a", Kind: 0 },
        { Path: "/etc/b", Kind: 2 },
        { Path: "/etc/new", Kind: 1 },
        { Path: "/newopq", Kind: 1 },
        { Path: "/opq", Kind: 2 },
        { Path: "/opq/fresh", Kind: 1 },
        { Path: "/opq/fresh/f", Kind: 1 },
        { Path: "/wh", Kind: 1 },
        { Path: "/wh/w", Kind: 1 },
      ]);
    }),
});

Deno.test({
  name: "overlayDiff: whiteout devices become .wh. files, opaque marker only over a lower" + why,
  ignore: !ok,
  fn: () =>
    withTmp(async (dir) => {
      const { diff, lowers } = makeOverlay(dir);
      sh(
        `chown -R 100000:100000 "${diff}"; chown 5:6 "${diff}/etc/b"; chown 100001:100002 "${diff}/etc/new"`,
      );
      const m = [{ container_id: 0, host_id: 100000, size: 65536 }];
      const list = await entries(overlayDiff(diff, lowers, { uidMap: m, gidMap: m }));
      const names = list.map((l) => l.split(" ")[0]);
      assert.deepEqual(names, [
        "etc/",
        "etc/a",
        "etc/.wh.b",
        "etc/new",
        "newopq/",
        "opq/",
        "opq/.wh..wh..opq",
        "opq/fresh/",
        "opq/fresh/f",
        "same/",
        "wh/",
        "wh/w",
      ], "no marker for newopq/, which no lower has");
      assert.ok(list.includes("etc/.wh.b 0 0 5:6"), "whiteout owners are kept, not mapped");
      assert.ok(list.includes("etc/new 0 644 1:2"), "owners are mapped host→container");
      assert.ok(!list.some((l) => l.includes("trusted.overlay")), "opaque xattr not carried");

      // Applied over the lowers' merged view, the result is what overlay would show.
      const merged = `${dir}/merged`;
      await copyTree(lowers[1], merged);
      await extractStream(overlayDiff(diff, lowers), merged);
      const tree: string[] = [];
      walkTree(merged, (e) => {
        tree.push(e.rel);
      });
      assert.deepEqual(tree, [
        "etc",
        "etc/a",
        "etc/new",
        "newopq",
        "opq",
        "opq/fresh",
        "opq/fresh/f",
        "same",
        "wh",
        "wh/w",
      ]);
    }),
});

Deno.test({
  name:
    "diff sizes: naive counts added/modified files once per inode; overlay sums non-directories" +
    why,
  ignore: !ok,
  fn: () =>
    withTmp(async (dir) => {
      sh(
        `mkdir -p "${dir}/p" "${dir}/c/d"; printf 12345 > "${dir}/p/same"; cp -p "${dir}/p/same" "${dir}/c/same"
          head -c 1000 /dev/zero > "${dir}/c/d/big"; ln "${dir}/c/d/big" "${dir}/c/d/big2"; printf 123 > "${dir}/c/small"
          ln -s 1234567 "${dir}/c/sym"`,
      );
      assert.equal(await naiveDiffSize(`${dir}/c`, `${dir}/p`), 1000 + 3 + 7);
      assert.equal(
        changesSize(`${dir}/c`, [{ Path: "/nope", Kind: 1 }, { Path: "/small", Kind: 2 }]),
        0,
      );
      assert.equal(await overlayDiffSize(`${dir}/c`), 5 + 1000 + 3 + 7);
    }),
});
