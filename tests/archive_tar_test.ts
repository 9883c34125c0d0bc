import assert from "node:assert/strict";
import { readTar } from "../src/archive/tar_reader.ts";
import { tarStream, type TarWriteHeader, TarWriter } from "../src/archive/tar_writer.ts";
import type { TarHeader } from "../src/archive/tar_types.ts";
import {
  chunked,
  concat,
  gnuTar,
  isRoot,
  LONG_DIR,
  LONG_FILE,
  LONG_TARGET,
  makeTree,
  readAllBytes,
  readWhole,
  run,
} from "./fixtures/archive/tar_fixtures.ts";

const root = await Deno.makeTempDir({ prefix: "cstor-tar-test-" });
const tree = await makeTree(root);
const FORMATS = ["pax", "gnu", "oldgnu", "ustar", "v7"];
const tars = new Map<string, Uint8Array>();
for (const f of FORMATS) tars.set(f, await gnuTar(tree, f));
tars.set("pax-xattrs", await gnuTar(tree, "pax", ["--xattrs", "--xattrs-include=*"]));

globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));

function byName(entries: { header: TarHeader; body: Uint8Array }[], name: string) {
  const e = entries.find((x) => x.header.name === name);
  assert.ok(e, `entry ${name} missing`);
  return e;
}

Deno.test("tar reader: raw + bodies + trailer + rest reproduce GNU tar output byte for byte", async (t) => {
  for (const [format, bytes] of tars) {
    await t.step(format, async () => {
      // (ustar and v7 cannot hold big.bin's uid when run as root and skip it.)
      if (/pax|gnu/.test(format)) assert.ok(bytes.length > 1024 * 1024, "holds the big file");
      // Odd chunk sizes make headers and bodies straddle chunk boundaries.
      for (const size of [1 << 16, 777, 512]) {
        const got = await readWhole(readTar(chunked(bytes, size)));
        assert.equal(got.bytes.length, bytes.length);
        assert.deepEqual(got.bytes, bytes);
      }
    });
  }
});

Deno.test("tar reader: names agree with GNU tar's listing", async () => {
  for (const [format, bytes] of tars) {
    // Compared as whole text: one name holds a newline.
    const listed = new TextDecoder().decode(
      await run("tar", ["--quoting-style=literal", "-tf", "-"], { stdin: bytes }),
    );
    const { entries } = await readWhole(readTar(chunked(bytes)));
    assert.equal(entries.map((e) => e.header.name + "\n").join(""), listed, format);
  }
});

Deno.test("tar reader: header fields of the awkward tree (pax)", async () => {
  const { entries } = await readWhole(readTar(chunked(tars.get("pax-xattrs")!)));
  // hello.txt and hardlink share an inode: whichever tar met first holds the content.
  const hello = [byName(entries, "./hello.txt"), byName(entries, "./hardlink")].find((e) =>
    e.header.type === "0"
  )!;
  assert.ok(hello);
  assert.equal(new TextDecoder().decode(hello.body), "hello\n");
  // `touch -d` read local time.
  assert.equal(hello.header.mtimeSec, new Date(2021, 4, 6, 7, 8, 9).getTime() / 1000);
  assert.equal(hello.header.mtimeNsec, 123456789);
  assert.deepEqual(
    hello.header.xattrs.get("user.greeting"),
    concat([
      new TextEncoder().encode("hi"),
      new Uint8Array([0, 0xff]),
      new TextEncoder().encode(" there"),
    ]),
  );
  if (isRoot) {
    assert.equal(hello.header.uid, 1000);
    assert.equal(hello.header.gid, 1000);
    const big = byName(entries, "./big.bin");
    assert.equal(big.header.uid, 2097152);
    assert.equal(big.header.pax.get("uid"), "2097152");
    const cdev = byName(entries, "./chardev");
    assert.deepEqual([cdev.header.type, cdev.header.devmajor, cdev.header.devminor], ["3", 1, 3]);
    const bdev = byName(entries, "./blockdev");
    assert.deepEqual([bdev.header.type, bdev.header.devmajor, bdev.header.devminor], ["4", 7, 200]);
  }
  assert.equal(byName(entries, "./big.bin").body.length, 1024 * 1024 + 333);
  assert.deepEqual(
    byName(entries, "./emptydir/").header.xattrs.get("user.dir"),
    new Uint8Array([0x64]),
  );
  assert.equal(byName(entries, "./emptydir/").header.type, "5");
  assert.equal(byName(entries, "./fifo").header.type, "6");
  assert.equal(byName(entries, "./sym").header.linkname, "hello.txt");
  assert.equal(byName(entries, "./longsym").header.linkname, LONG_TARGET);
  const hard = entries.find((e) => e.header.type === "1");
  assert.ok(hard);
  assert.equal(hard.header.size, 0);
  assert.equal(byName(entries, "./setuid").header.mode, 0o4755);
  assert.equal(byName(entries, "./sticky/").header.mode, 0o1777);
  assert.equal(byName(entries, "./nomode").header.mode, 0);
  const deep = byName(entries, `./${LONG_DIR}/${LONG_FILE}`);
  assert.ok(deep.header.name.length > 255);
  assert.equal(new TextDecoder().decode(deep.body), "deep\n");
  const latin = entries.find((e) => e.header.nameBytes.includes(0xff));
  assert.ok(latin, "non-UTF-8 name");
  assert.deepEqual(
    latin.header.nameBytes,
    new Uint8Array([...new TextEncoder().encode("./latin1-"), 0xe9, 0xff]),
  );
  assert.equal(new TextDecoder().decode(latin.body), "raw name\n");
  assert.ok(byName(entries, './odd <&> "name".txt'));
});

Deno.test("tar reader: GNU long names, long links and base-256 ids", async () => {
  const { entries } = await readWhole(readTar(chunked(tars.get("gnu")!)));
  assert.ok(byName(entries, `./${LONG_DIR}/${LONG_FILE}`));
  assert.equal(byName(entries, "./longsym").header.linkname, LONG_TARGET);
  if (isRoot) assert.equal(byName(entries, "./big.bin").header.uid, 2097152);
  // GNU headers keep atime/ctime fields empty by default; the reader must not invent them.
  assert.equal(byName(entries, "./hello.txt").header.atime, undefined);
});

Deno.test("tar reader: bodies skipped or half-read are stepped over", async () => {
  const bytes = tars.get("pax")!;
  const tr = readTar(chunked(bytes, 1000));
  const parts: Uint8Array[] = [];
  let i = 0;
  for (let e = await tr.next(); e; e = await tr.next()) {
    i++;
    if (i % 3 === 0) continue; // never read
    for await (const c of e.body()) {
      assert.ok(c.length > 0);
      break; // half read
    }
    parts.push(e.header.nameBytes);
  }
  assert.ok(i > 10);
  assert.ok(tr.trailer().length >= 1024);
});

function block(fill = 0): Uint8Array {
  return new Uint8Array(512).fill(fill);
}

async function expectError(bytes: Uint8Array, re: RegExp): Promise<void> {
  await assert.rejects(() => readWhole(readTar(chunked(bytes))), re);
}

Deno.test("tar reader: errors and end-of-archive variants", async (t) => {
  const one = await run("tar", ["--format=ustar", "-cf", "-", "-C", tree, "hello.txt"]);
  const ok = one.subarray(0, 512 + 512 + 1024);

  await t.step("bad checksum → invalid tar header", async () => {
    const bad = one.slice();
    bad[0] ^= 0x20;
    await expectError(bad, /invalid tar header/);
  });
  await t.step("garbage → invalid tar header", async () => {
    await expectError(
      new TextEncoder().encode("this is not a tar file".repeat(40)),
      /invalid tar header/,
    );
  });
  await t.step("truncated header → unexpected EOF", async () => {
    await expectError(one.subarray(0, 300), /unexpected EOF/);
  });
  await t.step("truncated body → unexpected EOF", async () => {
    await expectError(one.subarray(0, 515), /unexpected EOF/);
  });
  await t.step("truncated after a PAX header → unexpected EOF", async () => {
    const pax = tars.get("pax")!;
    await expectError(pax.subarray(0, 1024), /unexpected EOF/);
  });
  await t.step("zero block then data → invalid tar header", async () => {
    await expectError(
      concat([one.subarray(0, 1024), block(), one.subarray(0, 512)]),
      /invalid tar header/,
    );
  });
  await t.step("one zero block then EOF ends the archive", async () => {
    const got = await readWhole(readTar(chunked(ok.subarray(0, 1024 + 512))));
    assert.equal(got.entries.length, 1);
    assert.equal(got.trailer.length, 506 + 512, "padding of the content + one zero block");
  });
  await t.step("EOF at a header boundary ends the archive", async () => {
    const got = await readWhole(readTar(chunked(ok.subarray(0, 1024))));
    assert.equal(got.entries.length, 1);
    assert.equal(got.trailer.length, 506, "only the content's padding");
  });
  await t.step("trailing bytes after the end come from rest()", async () => {
    const extra = new TextEncoder().encode("trailing junk");
    const got = await readWhole(readTar(chunked(concat([ok, extra]), 100)));
    assert.deepEqual(got.rest, extra);
    assert.equal(got.trailer.length, 506 + 1024);
  });
  await t.step("empty input is an empty archive", async () => {
    const got = await readWhole(readTar(chunked(new Uint8Array(0))));
    assert.equal(got.entries.length, 0);
  });
  await t.step("GNU sparse → unsupported", async () => {
    const sparseDir = `${root}/sparse`;
    await Deno.mkdir(sparseDir, { recursive: true });
    await run("truncate", ["-s", "10M", `${sparseDir}/s`]);
    const gnuSparse = await run("tar", ["--format=gnu", "-S", "-cf", "-", "-C", sparseDir, "s"]);
    await expectError(gnuSparse, /unsupported/);
    const paxSparse = await run("tar", ["--format=pax", "-S", "-cf", "-", "-C", sparseDir, "s"]);
    await expectError(paxSparse, /unsupported/);
  });
});

Deno.test("tar reader: PAX global headers (git archive style) are folded into raw", async () => {
  const repo = `${root}/git`;
  await Deno.mkdir(repo, { recursive: true });
  await Deno.writeTextFile(`${repo}/f`, "content\n");
  const g = ["-C", repo, "-c", "user.name=t", "-c", "user.email=t@e"];
  await run("git", [...g, "init", "-q"]);
  await run("git", [...g, "add", "f"]);
  await run("git", [...g, "commit", "-qm", "x"]);
  const bytes = await run("git", [...g, "archive", "--format=tar", "HEAD"]);
  const tr = readTar(chunked(bytes));
  const first = await tr.next();
  assert.ok(first);
  assert.equal(first.header.name, "f");
  assert.equal(first.split.globals.length, 1);
  assert.equal(new TextDecoder().decode(first.split.globals[0].nameBytes), "pax_global_header");
  assert.match(first.header.pax.get("comment") ?? "", /^[0-9a-f]{40}$/);
  const rest = await readWhole(readTar(chunked(bytes)));
  assert.deepEqual(rest.bytes, bytes);
});

Deno.test("tar writer: GNU tar reads what it writes (names, links, ids, times, xattrs)", async () => {
  const text = (s: string) => new TextEncoder().encode(s);
  const entries: [TarWriteHeader, Uint8Array?][] = [
    [{ name: "dir/", type: "5", mode: 0o755, mtimeSec: 1600000000 }],
    [{
      name: "dir/plain.txt",
      type: "0",
      mode: 0o644,
      size: 3,
      mtimeSec: 1600000000,
      uname: "me",
      gname: "us",
    }, text("abc")],
    [
      { name: `dir/${LONG_DIR}/${LONG_FILE}`, type: "0", mode: 0o600, size: 1, mtimeSec: 1 },
      text("z"),
    ],
    // >100 but splittable into ustar prefix/name:
    [{ name: `${"p".repeat(80)}/${"q".repeat(90)}`, type: "0", mode: 0o644, mtimeSec: 2 }],
    [{ name: "dir/ünïcödé", type: "0", mode: 0o644, mtimeSec: 3, uid: 3000000, gid: 4000000 }],
    [{ name: "dir/link", type: "2", linkname: LONG_TARGET, mode: 0o777, mtimeSec: 4 }],
    [{ name: "dir/hard", type: "1", linkname: "dir/plain.txt", mtimeSec: 5, size: 99 }],
    [{ name: "dir/old", type: "0", mode: 0o644, mtimeSec: -1000, mtimeNsec: 500000000 }],
    [{ name: "dir/nano", type: "0", mode: 0o644, mtimeSec: 1700000000, mtimeNsec: 123456789 }],
    [{ name: "dir/dev", type: "3", mode: 0o600, devmajor: 4095, devminor: 3000000, mtimeSec: 6 }],
    [{ name: "dir/fifo", type: "6", mode: 0o4755, mtimeSec: 7 }],
    [{
      name: "dir/x",
      type: "0",
      mode: 0o644,
      mtimeSec: 8,
      uname: "u".repeat(40),
      xattrs: new Map([["user.bin", new Uint8Array([0, 1, 0xff, 0x0a, 0x3d])], [
        "user.empty",
        text("v"),
      ]]),
    }],
  ];
  const bytes = await readAllBytes(tarStream(async (tw) => {
    for (const [h, body] of entries) await tw.writeEntry(h, body);
  }));
  assert.equal(bytes.length % 512, 0);

  const listing = new TextDecoder().decode(
    await run("tar", [
      "--quoting-style=literal",
      "--numeric-owner",
      "--full-time",
      "--xattrs",
      "-tvf",
      "-",
    ], {
      stdin: bytes,
    }),
  );
  assert.match(listing, new RegExp(`dir/${LONG_DIR}/${LONG_FILE}\n`));
  assert.match(listing, /dir\/ünïcödé/);
  assert.match(listing, /3000000\/4000000/);
  assert.match(listing, new RegExp(`dir/link -> ${LONG_TARGET}`));
  assert.match(listing, /dir\/hard link to dir\/plain.txt/);
  // (GNU tar shows "-999.5" as 23:43:21.5; Go and Python read it as 0.5 s after -1000, as we write it.)
  assert.match(listing, /1969-12-31 23:43:2\d\.5 dir\/old/);
  assert.match(listing, /\.123456789 dir\/nano/);
  assert.match(listing, /4095,3000000/);
  assert.match(listing, /prwsr-xr-x/);

  // Our reader gives back the same headers.
  const got = await readWhole(readTar(chunked(bytes, 333)));
  assert.deepEqual(got.bytes, bytes);
  assert.equal(got.entries.length, entries.length);
  for (const [i, [h]] of entries.entries()) {
    const r = got.entries[i].header;
    assert.equal(r.name, h.name);
    assert.equal(r.type, h.type);
    assert.equal(r.mode, h.mode ?? 0);
    assert.equal(r.uid, h.uid ?? 0);
    assert.equal(r.gid, h.gid ?? 0);
    assert.equal(r.mtimeSec, h.mtimeSec ?? 0);
    assert.equal(r.mtimeNsec, h.mtimeNsec ?? 0);
    assert.equal(r.linkname, h.linkname ?? "");
    assert.equal(r.uname, h.uname ?? "");
    assert.equal(r.devmajor, h.devmajor ?? 0);
    assert.equal(r.devminor, h.devminor ?? 0);
    assert.deepEqual([...r.xattrs], [...(h.xattrs ?? new Map())]);
  }
  assert.equal(got.entries[6].header.size, 0, "hard links carry no content");

  // GNU tar extracts the binary xattr intact.
  const out = `${root}/wx`;
  await Deno.mkdir(out, { recursive: true });
  await run("tar", ["--xattrs", "--xattrs-include=*", "-xf", "-", "-C", out, "dir/x"], {
    stdin: bytes,
  });
  const xv = await run("python3", [
    "-c",
    "import os,sys; sys.stdout.buffer.write(os.getxattr(sys.argv[1], 'user.bin'))",
    `${out}/dir/x`,
  ]);
  assert.deepEqual(xv, new Uint8Array([0, 1, 0xff, 0x0a, 0x3d]));
});

Deno.test("tar writer: a header read back from a tar is written unchanged in substance", async () => {
  const src = tars.get("pax-xattrs")!;
  const chunks: Uint8Array[] = [];
  const tw = new TarWriter({ write: (c) => Promise.resolve(void chunks.push(c)) });
  const tr = readTar(chunked(src));
  for (let e = await tr.next(); e; e = await tr.next()) {
    await tw.writeHeader(e.header);
    for await (const c of e.body()) await tw.writeBody(c.slice());
  }
  await tw.close();
  const a = await readWhole(readTar(chunked(src)));
  const b = await readWhole(readTar(chunked(concat(chunks))));
  assert.equal(a.entries.length, b.entries.length);
  for (let i = 0; i < a.entries.length; i++) {
    const x = a.entries[i];
    const y = b.entries[i];
    const strip = (h: TarHeader) => ({ ...h, pax: null });
    assert.deepEqual(strip(y.header), strip(x.header), x.header.name);
    assert.deepEqual(y.body, x.body);
  }
});

Deno.test("tar writer: size mistakes are refused", async () => {
  const tw = new TarWriter({ write: () => Promise.resolve() });
  await tw.writeHeader({ name: "a", type: "0", size: 2 });
  await assert.rejects(() => tw.writeBody(new Uint8Array(3)), /write too long/);
  await tw.writeBody(new Uint8Array(1));
  await assert.rejects(() => tw.writeHeader({ name: "b", type: "0" }), /missed writing 1 bytes/);
});

Deno.test("tar writer: tarStream is paced by its reader", async () => {
  let produced = 0;
  const s = tarStream(async (tw) => {
    for (let i = 0; i < 200; i++) {
      await tw.writeHeader({ name: `f${i}`, type: "0", size: 64 * 1024 });
      await tw.writeBody(new Uint8Array(64 * 1024));
      produced++;
    }
  });
  const r = s.getReader();
  await r.read();
  await new Promise((res) => setTimeout(res, 20));
  assert.ok(produced < 20, `producer ran ahead: ${produced}`);
  await r.cancel();
});
