/**
 * The overlay driver against the kernel and against Go's containers-storage:
 * layout on disk, whiteouts, changes and diffs after writes through a
 * mount, deep chains, ID-map changes, and sharing one store (and its mount
 * counts) with the Go CLI. Every test ends with no mount left below its
 * temporary directory.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { openStore, type Store } from "../mod.ts";
import type { Change } from "../src/archive/changes.ts";
import { readTar } from "../src/archive/tar_reader.ts";
import { tarStream } from "../src/archive/tar_writer.ts";
import { readXattr } from "../src/archive/tree_walk.ts";
import { mountsBelow, readMountInfo } from "../src/drivers/mount.ts";
import { ffiAvailable } from "../src/sys/libc.ts";
import { cstorProcess, goCLI, haveGo, ROOT, testIf } from "./helpers.ts";

const dec = new TextDecoder();
const enc = new TextEncoder();

/** Why overlay tests cannot run here, or "" when they can. */
function overlayUnavailable(): string {
  if (Deno.uid() !== 0) return "needs root";
  if (!ffiAvailable()) return "needs --allow-ffi";
  const dir = Deno.makeTempDirSync({ prefix: "cstor-ovl-probe-" });
  try {
    for (const d of ["l", "u", "w", "m"]) Deno.mkdirSync(join(dir, d));
    const out = new Deno.Command("mount", {
      args: [
        "-t",
        "overlay",
        "overlay",
        "-o",
        `lowerdir=${dir}/l,upperdir=${dir}/u,workdir=${dir}/w`,
        `${dir}/m`,
      ],
      stdout: "null",
      stderr: "null",
    }).outputSync();
    if (!out.success) return "mount -t overlay is unavailable";
    new Deno.Command("umount", { args: [`${dir}/m`] }).outputSync();
    return "";
  } catch {
    return "mount -t overlay is unavailable";
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

const why = overlayUnavailable();
const ok = why === "";
const goOK = ok && haveGo();
const goWhy = why || "Debian's containers-storage is not installed";

/** One tar entry for {@link tarOf}. */
interface Entry {
  name: string;
  type?: "file" | "dir" | "symlink";
  body?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  link?: string;
}

/** A tar archive of `entries` (fixed times so archives are reproducible). */
async function tarOf(entries: Entry[]): Promise<Uint8Array> {
  const stream = tarStream(async (tw) => {
    for (const e of entries) {
      const type = e.type ?? (e.name.endsWith("/") ? "dir" : "file");
      const body = enc.encode(e.body ?? "");
      await tw.writeHeader({
        name: e.name,
        type: type === "dir" ? "5" : type === "symlink" ? "2" : "0",
        mode: e.mode ?? (type === "dir" ? 0o755 : type === "symlink" ? 0o777 : 0o644),
        uid: e.uid ?? 0,
        gid: e.gid ?? 0,
        size: type === "file" ? body.length : 0,
        linkname: e.link,
        mtimeSec: 1_600_000_000,
      });
      if (type === "file" && body.length > 0) await tw.writeBody(body);
    }
  });
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return ReadableStream.from([bytes]);
}

async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** `name type mode body` of every entry of a tar stream. */
async function listTar(bytes: Uint8Array): Promise<string[]> {
  const out: string[] = [];
  const tr = readTar(streamOf(bytes));
  for (let e = await tr.next(); e !== null; e = await tr.next()) {
    const chunks: number[] = [];
    for await (const c of e.body()) chunks.push(...c);
    const h = e.header;
    const body = h.type === "2" ? `-> ${h.linkname}` : dec.decode(new Uint8Array(chunks));
    out.push(`${h.name} ${h.type} ${(h.mode & 0o7777).toString(8)} ${body}`.trimEnd());
  }
  return out;
}

/** Mount points below `dir` (or `dir` itself). */
function mountsAt(dir: string): string[] {
  return readMountInfo().map((m) => m.mountPoint).filter((p) =>
    p === dir || p.startsWith(`${dir}/`)
  );
}

/**
 * Runs `fn` with a fresh directory; afterwards shuts the store(s) down and
 * fails the test if anything is still mounted below the directory (after
 * unmounting it, so one failure does not leak into the next test).
 */
async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cstor-ovl-" });
  let left: string[] = [];
  try {
    await fn(dir);
  } finally {
    left = mountsAt(dir);
    for (const mp of mountsBelow(dir).concat(left.includes(dir) ? [dir] : [])) {
      new Deno.Command("umount", { args: ["--lazy", mp], stderr: "null" }).outputSync();
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  assert.deepEqual(left, [], "mounts left behind");
}

async function open(dir: string, options: string[] = []): Promise<Store> {
  return await openStore({
    graphRoot: join(dir, "g"),
    runRoot: join(dir, "r"),
    driver: "overlay",
    driverOptions: options,
  });
}

function goArgs(dir: string): string[] {
  return ["--graph", join(dir, "g"), "--run", join(dir, "r"), "--storage-driver", "overlay"];
}

async function go(dir: string, ...args: string[]): Promise<string> {
  const r = await goCLI([...goArgs(dir), ...args]);
  assert.equal(r.code, 0, `containers-storage ${args.join(" ")}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

async function goBytes(dir: string, ...args: string[]): Promise<Uint8Array> {
  const r = await goCLI([...goArgs(dir), ...args]);
  assert.equal(r.code, 0, `containers-storage ${args.join(" ")}: ${r.stderr}`);
  return r.bytes;
}

/** Go's `changes` text: `Modify "/etc"` per line. */
function changesText(list: Change[]): string {
  const kinds = ["Modify", "Add", "Delete"];
  return list.map((c) => `${kinds[c.Kind]} ${JSON.stringify(c.Path)}\n`).join("");
}

const L1 = [
  { name: "bin/" },
  { name: "bin/sh", body: "sh", mode: 0o755 },
  { name: "d/" },
  { name: "d/x", body: "x" },
  { name: "d/y", body: "y" },
  { name: "etc/" },
  { name: "etc/hosts", body: "127.0.0.1 localhost\n" },
  { name: "etc/passwd", body: "root:x:0:0::/root:/bin/sh\n" },
  { name: "opt/" },
  { name: "opt/old", body: "old" },
];
const L2 = [
  { name: "d/" },
  { name: "d/.wh.y" },
  { name: "etc/" },
  { name: "etc/hosts", body: "10.0.0.2 layer2\n" },
  { name: "opt/" },
  { name: "opt/.wh..wh..opq" },
  { name: "opt/new", body: "new" },
  { name: "usr/" },
  { name: "usr/lib/" },
  { name: "usr/lib/lib.so", body: "ELF" },
];
const L3 = [
  { name: "usr/" },
  { name: "usr/bin/" },
  { name: "usr/bin/link", type: "symlink" as const, link: "tool" },
  { name: "usr/bin/tool", body: "tool", mode: 0o755 },
];

/** Three layers from L1–L3 and an image on top. */
async function threeLayers(
  store: Store,
): Promise<{ ids: string[]; tars: Uint8Array[]; image: string }> {
  const ids: string[] = [];
  const tars: Uint8Array[] = [];
  let parent: string | undefined;
  for (const entries of [L1, L2, L3]) {
    const tar = await tarOf(entries);
    const layer = await store.createLayer({ parent, diff: streamOf(tar) });
    ids.push(layer.id);
    tars.push(tar);
    parent = layer.id;
  }
  const image = await store.createImage({ topLayer: parent });
  return { ids, tars, image: image.id };
}

function read(path: string): string {
  return Deno.readTextFileSync(path);
}

testIf(
  ok,
  why,
  "overlay: layout on disk matches upstream (links, lower, modes, whiteouts)",
  () =>
    withDir(async (dir) => {
      const store = await open(dir);
      const { ids, image } = await threeLayers(store);
      const home = join(dir, "g", "overlay");
      assert.equal(Deno.statSync(join(home, "l")).mode! & 0o777, 0o755);
      const links: string[] = [];
      for (const [i, id] of ids.entries()) {
        const ld = join(home, id);
        assert.equal(Deno.statSync(ld).mode! & 0o777, 0o700);
        assert.equal(Deno.statSync(join(ld, "diff")).mode! & 0o777, 0o555);
        assert.equal(Deno.statSync(join(ld, "work")).mode! & 0o777, 0o700);
        assert.equal(Deno.statSync(join(ld, "link")).mode! & 0o777, 0o644);
        const lid = read(join(ld, "link"));
        assert.match(lid, /^[A-Z2-7]{26}$/);
        assert.equal(Deno.readLinkSync(join(home, "l", lid)), `../${id}/diff`);
        if (i === 0) {
          assert.ok(Deno.statSync(join(ld, "empty")).isDirectory);
          assert.throws(() => Deno.statSync(join(ld, "lower")));
        } else {
          assert.throws(() => Deno.statSync(join(ld, "empty")));
          assert.equal(read(join(ld, "lower")), links.map((l) => `l/${l}`).reverse().join(":"));
        }
        links.push(lid);
      }
      // Whiteouts are kernel-style: a 0:0 character device and an opaque xattr, no .wh. files.
      const y = Deno.lstatSync(join(home, ids[1], "diff", "d", "y"));
      assert.ok(y.isCharDevice);
      assert.equal(y.rdev, 0);
      const opq = readXattr(join(home, ids[1], "diff", "opt"), "trusted.overlay.opaque");
      assert.equal(dec.decode(opq!), "y");
      assert.throws(() => Deno.lstatSync(join(home, ids[1], "diff", "opt", ".wh..wh..opq")));
      assert.throws(() => Deno.lstatSync(join(home, ids[1], "diff", "d", ".wh.y")));

      const status = Object.fromEntries(await store.status());
      assert.equal(status["Driver Name"], "overlay");
      assert.equal(status["Native Overlay Diff"], "true");
      assert.equal(status["Supports d_type"], "true");

      // Deleting removes the layer directories and their short links.
      await store.deleteImage(image, { commit: true });
      for (const id of ids) assert.throws(() => Deno.statSync(join(home, id)));
      assert.deepEqual([...Deno.readDirSync(join(home, "l"))], []);
      await store.shutdown();
    }),
);

testIf(
  ok,
  why,
  "overlay: container on a three-layer image: writes through merged/ give exactly those changes and that diff",
  () =>
    withDir(async (dir) => {
      const store = await open(dir);
      const { ids, tars, image } = await threeLayers(store);
      const c = await store.createContainer(image);
      const m = await store.mount(c.id);
      try {
        assert.equal(m, join(dir, "g", "overlay", c.layerID, "merged"));
        // The image as the container sees it: whiteouts hide, opaque dirs replace.
        assert.equal(read(join(m, "bin/sh")), "sh");
        assert.equal(read(join(m, "d/x")), "x");
        assert.throws(() => Deno.lstatSync(join(m, "d/y")));
        assert.equal(read(join(m, "etc/hosts")), "10.0.0.2 layer2\n");
        assert.deepEqual([...Deno.readDirSync(join(m, "opt"))].map((e) => e.name), ["new"]);
        assert.equal(Deno.readLinkSync(join(m, "usr/bin/link")), "tool");
        // Write, delete and replace.
        Deno.writeTextFileSync(join(m, "new.txt"), "new file");
        Deno.removeSync(join(m, "etc/passwd"));
        Deno.writeTextFileSync(join(m, "etc/hosts"), "192.168.1.1 c\n");
        Deno.removeSync(join(m, "d"), { recursive: true });
        Deno.mkdirSync(join(m, "etc/newdir"));
        Deno.writeTextFileSync(join(m, "etc/newdir/f"), "f");
        assert.equal(await store.mounted(c.id), 1);
      } finally {
        assert.equal(await store.unmount(c.id), false);
      }
      assert.deepEqual(mountsBelow(join(dir, "g", "overlay")), []);
      assert.throws(() => Deno.statSync(m), "merged/ is removed on unmount");

      const changes = await store.changes(c.layerID);
      assert.equal(
        changesText(changes),
        [
          'Delete "/d"',
          'Modify "/etc"',
          'Modify "/etc/hosts"',
          'Add "/etc/newdir"',
          'Add "/etc/newdir/f"',
          'Delete "/etc/passwd"',
          'Add "/new.txt"',
        ].map((l) => `${l}\n`).join(""),
      );
      const diff = await bytesOf(await store.diff(c.layerID));
      assert.deepEqual(await listTar(diff), [
        ".wh.d 0 0",
        "etc/ 5 755",
        "etc/hosts 0 644 192.168.1.1 c",
        "etc/newdir/ 5 755",
        "etc/newdir/f 0 644 f",
        "etc/.wh.passwd 0 0",
        "new.txt 0 644 new file",
      ]);
      assert.equal(await store.diffSize(c.layerID), "192.168.1.1 c\n".length + 1 + 8);

      // Applied layers come back byte for byte (tar-split reassembly reads lower diffs too).
      for (const [i, id] of ids.entries()) {
        assert.deepEqual(await bytesOf(await store.diff(id, { compression: 0 })), tars[i]);
      }
      // Without tar-split the native diff turns on-disk whiteouts back into .wh. entries.
      await Deno.remove(join(dir, "g", "overlay-layers", `${ids[1]}.tar-split.gz`));
      assert.deepEqual(await listTar(await bytesOf(await store.diff(ids[1]))), [
        "d/ 5 755",
        "d/.wh.y 0 0",
        "etc/ 5 755",
        "etc/hosts 0 644 10.0.0.2 layer2",
        "opt/ 5 755",
        "opt/.wh..wh..opq 0 755",
        "opt/new 0 644 new",
        "usr/ 5 755",
        "usr/lib/ 5 755",
        "usr/lib/lib.so 0 644 ELF",
      ]);
      // Against a layer that is not the parent, trees are compared through read-only mounts.
      assert.equal(
        changesText(await store.changes(c.layerID, ids[0])),
        changesText(await store.changes(c.layerID, ids[0])),
      );
      const vsBase = changesText(await store.changes(ids[2], ids[0]));
      assert.match(vsBase, /Delete "\/d\/y"/);
      assert.match(vsBase, /Add "\/usr\/bin\/tool"/);
      assert.match(vsBase, /Delete "\/opt\/old"/);
      await store.deleteContainer(c.id);
      await store.shutdown();
    }),
);

testIf(
  ok,
  why,
  "overlay: read-only mounts, mount counts, refusing to rebuild a mounted layer",
  () =>
    withDir(async (dir) => {
      const store = await open(dir);
      const { ids } = await threeLayers(store);
      const m = await store.mount(ids[2], { options: ["ro"] });
      try {
        assert.equal(read(join(m, "usr/lib/lib.so")), "ELF");
        assert.throws(() => Deno.writeTextFileSync(join(m, "x"), "x"));
        const info = readMountInfo().find((e) => e.mountPoint === m)!;
        assert.match(info.superOptions, /lowerdir=/);
        assert.doesNotMatch(info.superOptions, /upperdir=/);
        assert.equal(await store.mount(ids[2]), m, "a second mount reuses the first");
        assert.equal(await store.mounted(ids[2]), 2);
        await assert.rejects(
          store.applyDiff(ids[2], streamOf(await tarOf([{ name: "z", body: "z" }]))),
          /is mounted/,
        );
        assert.equal(await store.unmount(ids[2]), true);
      } finally {
        await store.unmount(ids[2], { force: true });
      }
      assert.equal(await store.mounted(ids[2]), 0);
      // Not mounted: applying to the existing layer works and shows through a mount.
      await store.applyDiff(ids[2], streamOf(await tarOf([{ name: "z", body: "z" }])));
      const again = await store.mount(ids[2]);
      try {
        assert.equal(read(join(again, "z")), "z");
        assert.equal(read(join(again, "usr/bin/tool")), "tool");
      } finally {
        await store.unmount(ids[2]);
      }
      // A mount the kernel refuses leaves no count and no mount.
      await assert.rejects(store.mount(ids[0], { options: ["bogus=1"] }), /mount/);
      assert.equal(await store.mounted(ids[0]), 0);
      await store.shutdown();
    }),
);

testIf(
  ok,
  why,
  "overlay: a 500-layer chain mounts read-write at depth 100, 300 and 500, and read-only",
  () =>
    withDir(async (dir) => {
      const store = await open(dir);
      const chain: string[] = [];
      for (let i = 0; i < 500; i++) {
        const tar = await tarOf([{ name: `f${i}`, body: String(i) }]);
        const l = await store.createLayer({ parent: chain.at(-1), diff: streamOf(tar) });
        chain.push(l.id);
      }
      // Depth 100 needs paths relative to the home; 300 and 500 need the short scratch links.
      for (const [depth, lowerdir] of [[100, "l/"], [300, "0:1:"], [500, "0:1:"]] as const) {
        const top = chain[depth - 1];
        const m = await store.mount(top);
        try {
          const info = readMountInfo().find((e) => e.mountPoint === m)!;
          assert.ok(
            info.superOptions.includes(`lowerdir=${lowerdir}`),
            info.superOptions.slice(0, 80),
          );
          const names = new Set([...Deno.readDirSync(m)].map((e) => e.name));
          // "written" was added at depth 100 and is in a lower deeper down.
          assert.equal(names.size, depth === 100 ? depth : depth + 1);
          assert.equal(read(join(m, "f0")), "0");
          assert.equal(read(join(m, `f${depth - 1}`)), String(depth - 1));
          Deno.writeTextFileSync(join(m, "written"), "w");
        } finally {
          await store.unmount(top);
        }
        const kind = depth === 100 ? "Add" : "Modify";
        assert.equal(
          changesText(await store.changes(top)),
          `Add "/f${depth - 1}"\n${kind} "/written"\n`,
        );
      }
      const m = await store.mount(chain[499], { options: ["ro"] });
      try {
        assert.equal(read(join(m, "written")), "w");
      } finally {
        await store.unmount(chain[499]);
      }
      await store.shutdown();
    }),
);

testIf(
  ok,
  why,
  "overlay: layers with other ID maps are re-owned into diff1/ through a mount",
  () =>
    withDir(async (dir) => {
      const store = await open(dir);
      const base = await store.createLayer({
        diff: streamOf(
          await tarOf([
            { name: "etc/" },
            { name: "etc/f", body: "f" },
            { name: "home/" },
            { name: "home/u", body: "u", uid: 1000, gid: 1000 },
          ]),
        ),
      });
      const image = await store.createImage({ topLayer: base.id });
      const map = [{ container_id: 0, host_id: 100000, size: 65536 }];
      const c = await store.createContainer(image.id, { uidMap: map, gidMap: map });
      // The container is built on a mapped copy of the image's top layer,
      // re-owned once into its diff1/ and listed in the image (§8).
      const mapped = (await store.image(image.id))!.mappedTopLayers;
      assert.equal(mapped.length, 1);
      const mappedLayer = (await store.layer(mapped[0]))!;
      assert.equal(mappedLayer.parent, "");
      assert.equal(mappedLayer.uncompressedDigest, base.uncompressedDigest);
      assert.equal((await store.layer(c.layerID))!.parent, mapped[0]);
      const ld = join(dir, "g", "overlay", mapped[0]);
      assert.equal(Deno.lstatSync(join(ld, "diff1", "home", "u")).uid, 101000);
      assert.deepEqual([...Deno.readDirSync(join(ld, "diff"))], []);
      assert.throws(() => Deno.statSync(join(dir, "g", "overlay", c.layerID, "diff1")));
      // Its tar stream is still the one applied to the top layer.
      assert.deepEqual(
        await bytesOf(await store.diff(mapped[0], { compression: 0 })),
        await bytesOf(await store.diff(base.id, { compression: 0 })),
      );
      // A second container with the same maps reuses it.
      const c2 = await store.createContainer(image.id, { uidMap: map, gidMap: map });
      assert.equal((await store.layer(c2.layerID))!.parent, mapped[0]);
      assert.equal((await store.image(image.id))!.mappedTopLayers.length, 1);
      await store.deleteContainer(c2.id);
      const m = await store.mount(c.id);
      try {
        assert.equal(Deno.lstatSync(join(m, "etc", "f")).uid, 100000);
        assert.equal(Deno.lstatSync(join(m, "home", "u")).gid, 101000);
        assert.equal(read(join(m, "home", "u")), "u");
        Deno.writeTextFileSync(join(m, "etc", "g"), "g");
        Deno.chownSync(join(m, "etc", "g"), 100005, 100005);
      } finally {
        await store.unmount(c.id);
      }
      // Only the container's own change: the re-owned copy is in the layer below.
      assert.equal(changesText(await store.changes(c.layerID)), 'Modify "/etc"\nAdd "/etc/g"\n');
      const entries = [];
      const tr = readTar(await store.diff(c.layerID));
      for (let e = await tr.next(); e !== null; e = await tr.next()) {
        entries.push(`${e.header.name} ${e.header.uid}:${e.header.gid}`);
      }
      assert.deepEqual(entries, ["etc/ 0:0", "etc/g 5:5"]);
      await assert.rejects(
        store.mount(c.layerID, { maps: { uidMap: [], gidMap: [] } }),
        /shifting not enabled/,
      );
      await store.deleteContainer(c.id);
      // Deleting the image takes its mapped copy too.
      assert.deepEqual(
        (await store.deleteImage(image.id, { commit: true })).sort(),
        [base.id, mapped[0]].sort(),
      );
      assert.throws(() => Deno.statSync(ld));
      await store.shutdown();
    }),
);

testIf(goOK, goWhy, "overlay/go: status pairs are Go's", () =>
  withDir(async (dir) => {
    const store = await open(dir);
    const ours = await store.status();
    const theirs = JSON.parse(await go(dir, "status", "-j")) as string[][];
    assert.deepEqual(ours.slice(4), theirs.slice(4));
    assert.deepEqual(ours.slice(0, 3), theirs.slice(0, 3));
    await go(dir, "shutdown");
    await store.shutdown();
  }));

testIf(
  goOK,
  goWhy,
  "overlay/go: the Go CLI mounts, reads and diffs a cstor-made store",
  () =>
    withDir(async (dir) => {
      const store = await open(dir);
      const { ids, tars, image } = await threeLayers(store);
      const c = await store.createContainer(image);
      const m = (await go(dir, "mount", c.id)).trim();
      try {
        assert.equal(m, join(dir, "g", "overlay", c.layerID, "merged"));
        assert.equal(read(join(m, "etc/hosts")), "10.0.0.2 layer2\n");
        assert.throws(() => Deno.lstatSync(join(m, "d/y")));
        assert.deepEqual([...Deno.readDirSync(join(m, "opt"))].map((e) => e.name), ["new"]);
        Deno.writeTextFileSync(join(m, "from-go"), "go");
        Deno.removeSync(join(m, "bin/sh"));
      } finally {
        await go(dir, "unmount", c.id);
      }
      assert.equal(await store.mounted(c.id), 0);
      // Go and cstor agree on what changed and how it is archived.
      assert.equal(
        await go(dir, "changes", c.layerID),
        changesText(await store.changes(c.layerID)),
      );
      assert.deepEqual(
        await listTar(await goBytes(dir, "diff", "-u", c.layerID)),
        await listTar(await bytesOf(await store.diff(c.layerID))),
      );
      // Layers cstor applied come back from Go byte for byte.
      for (const [i, id] of ids.entries()) {
        assert.deepEqual(await goBytes(dir, "diff", "-u", id), tars[i]);
      }
      await go(dir, "shutdown");
      await store.shutdown();
    }),
);

testIf(
  goOK,
  goWhy,
  "overlay/go: cstor mounts, reads and diffs a Go-made store",
  () =>
    withDir(async (dir) => {
      const tars = [await tarOf(L1), await tarOf(L2), await tarOf(L3)];
      const ids: string[] = [];
      for (const tar of tars) {
        const id = (await go(dir, "create-layer", ...ids.slice(-1))).trim();
        const r = await goCLI([...goArgs(dir), "applydiff", id], tar);
        assert.equal(r.code, 0, r.stderr);
        ids.push(id);
      }
      await go(dir, "shutdown");
      const store = await open(dir);
      const m = await store.mount(ids[2]);
      try {
        assert.equal(read(join(m, "usr/bin/tool")), "tool");
        assert.equal(read(join(m, "etc/hosts")), "10.0.0.2 layer2\n");
        assert.throws(() => Deno.lstatSync(join(m, "opt/old")));
        Deno.writeTextFileSync(join(m, "from-cstor"), "c");
      } finally {
        await store.unmount(ids[2]);
      }
      for (const [i, id] of ids.entries()) {
        assert.deepEqual(await bytesOf(await store.diff(id, { compression: 0 })), tars[i]);
      }
      assert.equal(changesText(await store.changes(ids[2])), await go(dir, "changes", ids[2]));
      // A layer cstor adds on top of Go's is usable by Go.
      const top = await store.createLayer({
        parent: ids[2],
        diff: streamOf(await tarOf([{ name: "opt/" }, { name: "opt/.wh.new" }])),
      });
      const gm = (await go(dir, "mount", top.id)).trim();
      try {
        assert.deepEqual([...Deno.readDirSync(join(gm, "opt"))], []);
        assert.equal(read(join(gm, "from-cstor")), "c");
      } finally {
        await go(dir, "unmount", top.id);
      }
      await go(dir, "shutdown");
      await store.shutdown();
    }),
);

testIf(
  goOK,
  goWhy,
  "overlay/go: mount counts are shared: mounted by one side, unmounted by the other",
  () =>
    withDir(async (dir) => {
      const store = await open(dir);
      const { ids } = await threeLayers(store);
      const top = ids[2];
      const merged = join(dir, "g", "overlay", top, "merged");
      const mounted = () => readMountInfo().some((e) => e.mountPoint === merged);

      // cstor mounts twice, Go unmounts twice.
      await store.mount(top);
      await store.mount(top);
      assert.equal((await go(dir, "mounted", top)).trim(), `${top} mounted`);
      await go(dir, "unmount", top);
      assert.ok(mounted());
      assert.equal(await store.mounted(top), 1);
      await go(dir, "unmount", top);
      assert.ok(!mounted());
      assert.equal(await store.mounted(top), 0);

      // Go mounts, cstor unmounts.
      assert.equal((await go(dir, "mount", top)).trim(), merged);
      assert.ok(mounted());
      assert.equal(await store.mounted(top), 1);
      assert.equal(await store.unmount(top), false);
      assert.ok(!mounted());
      assert.equal(await go(dir, "mounted", top), "");
      const counts = JSON.parse(read(join(dir, "r", "overlay-layers", "mountpoints.json")));
      assert.deepEqual(counts, []);
      await go(dir, "shutdown");
      await store.shutdown();
    }),
);

testIf(
  ok,
  why,
  "overlay: picked automatically when the kernel can mount it, and again from its state",
  () =>
    withDir(async (dir) => {
      const store = await openStore({ graphRoot: join(dir, "g"), runRoot: join(dir, "r") });
      assert.equal(store.driverName, "overlay");
      await store.createLayer();
      await store.shutdown();
      const again = await openStore({
        graphRoot: join(dir, "g"),
        runRoot: join(dir, "r"),
        driverPriority: ["vfs", "overlay"],
      });
      assert.equal(
        again.driverName,
        "overlay",
        "an existing overlay home wins over the priority list",
      );
      await again.shutdown();
    }),
);

testIf(
  ok,
  why,
  "overlay: configured mount options and volatile containers reach the mount",
  () =>
    withDir(async (dir) => {
      const store = await open(dir, ["overlay.mountopt=nodev,noatime"]);
      const { image } = await threeLayers(store);
      const c = await store.createContainer(image, { volatile: true });
      const m = await store.mount(c.id);
      try {
        const info = readMountInfo().find((e) => e.mountPoint === m)!;
        assert.match(info.options, /nodev/);
        assert.match(info.options, /noatime/);
        assert.match(info.superOptions, /volatile/);
      } finally {
        await store.unmount(c.id);
      }
      await store.shutdown();
    }),
);

const fuse = "/usr/bin/fuse-overlayfs";
const fuseOK = ok && (() => {
  try {
    return Deno.statSync(fuse).isFile && Deno.statSync("/dev/fuse") !== null;
  } catch {
    return false;
  }
})();

testIf(
  fuseOK,
  why || "fuse-overlayfs is not installed",
  "overlay: with mount_program, AUFS whiteouts on disk and FUSE mounts",
  () =>
    withDir(async (dir) => {
      const store = await open(dir, [`overlay.mount_program=${fuse}`]);
      const { ids, tars, image } = await threeLayers(store);
      const home = join(dir, "g", "overlay");
      assert.equal(read(join(home, ".has-mount-program")), "true");
      assert.ok(Deno.lstatSync(join(home, ids[1], "diff", "d", ".wh.y")).isFile);
      assert.ok(Deno.lstatSync(join(home, ids[1], "diff", "opt", ".wh..wh..opq")).isFile);
      assert.equal(Object.fromEntries(await store.status())["Native Overlay Diff"], "false");
      const c = await store.createContainer(image);
      const m = await store.mount(c.id);
      try {
        assert.equal(
          readMountInfo().find((e) => e.mountPoint === m)?.fsType,
          "fuse.fuse-overlayfs",
        );
        assert.throws(() => Deno.lstatSync(join(m, "d/y")));
        assert.deepEqual([...Deno.readDirSync(join(m, "opt"))].map((e) => e.name), ["new"]);
        Deno.writeTextFileSync(join(m, "new.txt"), "n");
        Deno.removeSync(join(m, "etc/passwd"));
      } finally {
        await store.unmount(c.id);
      }
      assert.equal(
        changesText(await store.changes(c.layerID)),
        [
          'Modify "/etc"',
          'Delete "/etc/passwd"',
          'Add "/new.txt"',
        ].map((l) => `${l}\n`).join(""),
      );
      for (const [i, id] of ids.entries()) {
        assert.deepEqual(await bytesOf(await store.diff(id, { compression: 0 })), tars[i]);
      }
      await store.deleteContainer(c.id);
      await store.shutdown();
    }),
);

testIf(
  ok,
  why,
  "overlay: the CLI works under its own permission set (--allow-run=mount,umount)",
  () =>
    withDir(async (dir) => {
      const perms = [
        "--config",
        join(ROOT, "deno.json"),
        "-P=cli",
        `--allow-read=${dir}`,
        `--allow-write=${dir}`,
      ];
      const cli = async (...args: string[]): Promise<string> => {
        const r = await cstorProcess([...goArgs(dir), ...args], { permissions: perms });
        assert.equal(r.code, 0, `cstor ${args.join(" ")}: ${r.stderr}`);
        return r.stdout.trim();
      };
      const base = await cli("create-layer");
      const tarFile = join(dir, "l1.tar");
      await Deno.writeFile(tarFile, await tarOf(L1.filter((e) => !e.name.startsWith("opt"))));
      const withDiff = await cstorProcess([...goArgs(dir), "applydiff", "-f", tarFile, base], {
        permissions: perms,
      });
      assert.equal(withDiff.code, 0, withDiff.stderr);
      const top = await cli("create-layer", base);
      const m = await cli("mount", top);
      try {
        assert.equal(read(join(m, "etc/hosts")), "127.0.0.1 localhost\n");
        Deno.writeTextFileSync(join(m, "x"), "x");
      } finally {
        await cli("unmount", top);
      }
      assert.equal(await cli("changes", top), 'Add "/x"');
      const diff = await cstorProcess([...goArgs(dir), "diff", "-u", base], { permissions: perms });
      assert.deepEqual(diff.bytes, await Deno.readFile(tarFile));
      await cli("shutdown");
    }),
);

testIf(
  goOK,
  goWhy,
  "overlay/go: cstor reads a mapped top layer Go made for a container with other ID maps",
  () =>
    withDir(async (dir) => {
      // This kernel lets Go shift IDs with idmapped mounts, and then Go makes no
      // mapped copy; its cached probe result is set to "no" to get one.
      await Deno.mkdir(join(dir, "r", "overlay"), { recursive: true });
      await Deno.writeFile(join(dir, "r", "overlay", "idmapped-lower-dir-false"), new Uint8Array());
      const tar = await tarOf([{ name: "home/" }, {
        name: "home/u",
        body: "u",
        uid: 1000,
        gid: 1000,
      }]);
      const base = (await go(dir, "create-layer")).trim();
      assert.equal((await goCLI([...goArgs(dir), "applydiff", base], tar)).code, 0);
      const image = (await go(dir, "create-image", base)).trim();
      const ctr = (await go(
        dir,
        "create-container",
        "--uidmap",
        "0:100000:65536",
        "--gidmap",
        "0:100000:65536",
        image,
      )).trim();
      await go(dir, "shutdown");
      const store = await open(dir);
      const mapped = (await store.image(image))!.mappedTopLayers[0];
      assert.ok(Deno.statSync(join(dir, "g", "overlay", mapped, "diff1")).isDirectory);
      const m = await store.mount(ctr);
      try {
        assert.equal(Deno.lstatSync(join(m, "home", "u")).uid, 101000);
        assert.equal(read(join(m, "home", "u")), "u");
      } finally {
        await store.unmount(ctr);
      }
      // Its first lower is the template, not its parent: compared through mounts, as Go does.
      assert.equal(changesText(await store.changes(mapped)), await go(dir, "changes", mapped));
      assert.deepEqual(await bytesOf(await store.diff(mapped, { compression: 0 })), tar);
      assert.equal(
        await store.diffSize(mapped),
        Number((await go(dir, "diffsize", mapped)).trim()),
      );
      await go(dir, "shutdown");
      await store.shutdown();
    }),
);

testIf(
  goOK,
  goWhy,
  "overlay/go: a layer cstor re-owned for other ID maps looks like Go's",
  () =>
    withDir(async (dir) => {
      const store = await open(dir);
      const tar = await tarOf([{ name: "home/" }, {
        name: "home/u",
        body: "u",
        uid: 1000,
        gid: 1000,
      }]);
      const base = await store.createLayer({ diff: streamOf(tar) });
      const map = [{ container_id: 0, host_id: 100000, size: 65536 }];
      const mapped = await store.createLayer({ parent: base.id, uidMap: map, gidMap: map });
      const ld = join(dir, "g", "overlay", mapped.id);
      const st = (p: string) => {
        const i = Deno.statSync(join(ld, p));
        return `${i.uid}:${i.gid} ${(i.mode! & 0o7777).toString(8)}`;
      };
      assert.equal(st("."), "100000:100000 700");
      assert.equal(st("diff"), "100000:100000 555");
      assert.equal(st("diff1"), "0:0 555");
      assert.equal(st("work"), "100000:100000 555");
      assert.throws(() => Deno.statSync(join(ld, "merged")));
      const gm = (await go(dir, "mount", mapped.id)).trim();
      try {
        assert.equal(Deno.lstatSync(join(gm, "home", "u")).uid, 101000);
      } finally {
        await go(dir, "unmount", mapped.id);
      }
      await go(dir, "shutdown");
      await store.shutdown();
    }),
);

testIf(
  goOK,
  goWhy,
  "overlay/go: Go builds its container on the mapped copy cstor made",
  () =>
    withDir(async (dir) => {
      // Make Go take the no-shifting path (see the test of Go's mapped layers).
      await Deno.mkdir(join(dir, "r", "overlay"), { recursive: true });
      await Deno.writeFile(join(dir, "r", "overlay", "idmapped-lower-dir-false"), new Uint8Array());
      const store = await open(dir);
      const tar = await tarOf([{ name: "home/" }, {
        name: "home/u",
        body: "u",
        uid: 1000,
        gid: 1000,
      }]);
      const base = await store.createLayer({ diff: streamOf(tar) });
      const image = await store.createImage({ topLayer: base.id });
      const map = [{ container_id: 0, host_id: 100000, size: 65536 }];
      const c = await store.createContainer(image.id, { uidMap: map, gidMap: map });
      const mapped = (await store.image(image.id))!.mappedTopLayers;
      const ctr = (await go(
        dir,
        "create-container",
        "--uidmap",
        "0:100000:65536",
        "--gidmap",
        "0:100000:65536",
        image.id,
      )).trim();
      assert.deepEqual((await store.image(image.id))!.mappedTopLayers, mapped);
      const goLayer = (await store.container(ctr))!.layerID;
      assert.equal((await store.layer(goLayer))!.parent, mapped[0]);
      const gm = (await go(dir, "mount", ctr)).trim();
      try {
        assert.equal(Deno.lstatSync(join(gm, "home", "u")).uid, 101000);
      } finally {
        await go(dir, "unmount", ctr);
      }
      await go(dir, "delete-container", ctr);
      await store.deleteContainer(c.id);
      await go(dir, "shutdown");
      await store.shutdown();
    }),
);

testIf(
  ok,
  why,
  "overlay: short links lost in a crash are rebuilt from the link files",
  () =>
    withDir(async (dir) => {
      const store = await open(dir);
      const { ids } = await threeLayers(store);
      const linkDir = join(dir, "g", "overlay", "l");
      for (const e of [...Deno.readDirSync(linkDir)]) Deno.removeSync(join(linkDir, e.name));
      const m = await store.mount(ids[2]);
      try {
        assert.equal(read(join(m, "bin/sh")), "sh");
      } finally {
        await store.unmount(ids[2]);
      }
      assert.equal([...Deno.readDirSync(linkDir)].length, 3);
      const child = await store.createLayer({ parent: ids[2] });
      assert.equal(read(join(dir, "g", "overlay", child.id, "lower")).split(":").length, 3);
      await store.shutdown();
    }),
);
