import assert from "node:assert/strict";
import { gunzipSync, gzipSync } from "node:zlib";
import { assembleTar } from "../src/archive/assemble.ts";
import { Crc64, crc64 } from "../src/archive/crc64.ts";
import { type LayerStreamResult, openLayerStream } from "../src/archive/layer_stream.ts";
import { readTar } from "../src/archive/tar_reader.ts";
import {
  goJsonString,
  readTarSplit,
  recordTarSplit,
  type TarSplitEntry,
  TarSplitPacker,
} from "../src/archive/tar_split.ts";
import { isValidUtf8 } from "../src/archive/tar_header.ts";
import { TarWriter } from "../src/archive/tar_writer.ts";
import {
  chunked,
  concat,
  gnuTar,
  have,
  makeTree,
  readAllBytes,
  run,
  sha256,
} from "./fixtures/archive/tar_fixtures.ts";
import { NO_GO, testIf } from "./helpers.ts";

const root = await Deno.makeTempDir({ prefix: "cstor-tarsplit-test-" });
globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));
const tree = await makeTree(root);
const goAvailable = await have("containers-storage");

/** A tar with a PAX global header, as `git archive` writes. */
async function gitArchive(): Promise<Uint8Array> {
  const repo = `${root}/git`;
  await Deno.mkdir(repo, { recursive: true });
  await Deno.writeTextFile(`${repo}/f`, "content\n");
  await Deno.writeTextFile(`${repo}/g`, "more content\n");
  const g = ["-C", repo, "-c", "user.name=t", "-c", "user.email=t@e"];
  await run("git", [...g, "init", "-q"]);
  await run("git", [...g, "add", "f", "g"]);
  await run("git", [...g, "commit", "-qm", "x"]);
  return await run("git", [...g, "archive", "--format=tar", "HEAD"]);
}

const inputs = new Map<string, Uint8Array>();
inputs.set("pax", await gnuTar(tree, "pax"));
inputs.set("gnu", await gnuTar(tree, "gnu"));
inputs.set("pax-xattrs", await gnuTar(tree, "pax", ["--xattrs", "--xattrs-include=*"]));
inputs.set("git-archive", await gitArchive());
inputs.set(
  "trailing-junk",
  concat([inputs.get("gnu")!, crypto.getRandomValues(new Uint8Array(30000))]),
);
inputs.set("small", await run("tar", ["--format=pax", "-cf", "-", "-C", tree, "hello.txt"]));
inputs.set(
  "small-junk",
  concat([inputs.get("small")!, crypto.getRandomValues(new Uint8Array(50000))]),
);
inputs.set("big-junk", concat([inputs.get("pax")!, new Uint8Array(3 * 1024 * 1024 + 5).fill(7)]));
inputs.set("gzip", gzipSync(inputs.get("pax")!));
inputs.set("written-by-TarWriter", await writerTar());

/** A tar from our writer with everything that needs PAX or GNU encodings (Go must read it). */
async function writerTar(): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const tw = new TarWriter({ write: (c) => Promise.resolve(void parts.push(c)) });
  const text = (s: string) => new TextEncoder().encode(s);
  await tw.writeEntry({ name: "d/", type: "5", mode: 0o755, mtimeSec: 1 });
  await tw.writeEntry({ name: `d/${"a".repeat(120)}/`, type: "5", mode: 0o755, mtimeSec: 1 });
  await tw.writeEntry(
    { name: `d/${"a".repeat(120)}/${"b".repeat(150)}`, type: "0", size: 3, mtimeSec: 2 },
    text("abc"),
  );
  await tw.writeEntry({ name: `d/${"p".repeat(90)}/${"q".repeat(90)}`, type: "0", mtimeSec: 3 });
  await tw.writeEntry({
    name: "d/ünï",
    type: "0",
    uid: 5_000_000,
    gid: 7,
    mtimeSec: 4,
    mtimeNsec: 5,
  });
  await tw.writeEntry({ name: "d/l", type: "2", linkname: "t/".repeat(80), mtimeSec: 5 });
  await tw.writeEntry({ name: "d/h", type: "1", linkname: "d/ünï", mtimeSec: 6 });
  await tw.writeEntry({ name: "d/c", type: "3", devmajor: 1, devminor: 5, mtimeSec: 7 });
  await tw.writeEntry({
    name: "d/x",
    type: "0",
    size: 1,
    mtimeSec: -8,
    xattrs: new Map([["user.a", new Uint8Array([0, 0xff])], ["user.b", text("c")]]),
    uname: "n".repeat(40),
  }, text("x"));
  await tw.close();
  return concat(parts);
}

interface Recorded {
  json: string;
  gz: Uint8Array;
  result: LayerStreamResult;
  files: Map<string, Uint8Array>;
}

/** Applies `bytes` the way ApplyDiff reads a file: openLayerStream + tar-split recording. */
async function record(bytes: Uint8Array, readBodies = true): Promise<Recorded> {
  const path = `${root}/input-${crypto.randomUUID()}`;
  await Deno.writeFile(path, bytes);
  const gzParts: Uint8Array[] = [];
  const packer = new TarSplitPacker({ write: (c) => Promise.resolve(void gzParts.push(c)) });
  const layer = await openLayerStream((await Deno.open(path)).readable);
  const tr = recordTarSplit(layer.tar, packer);
  const files = new Map<string, Uint8Array>();
  for (let e = await tr.next(); e; e = await tr.next()) {
    if (readBodies && e.header.type === "0") files.set(e.header.name, await readAllBytes(e.body()));
  }
  for await (const _ of tr.rest()) { /* recorded */ }
  await packer.close();
  const result = await layer.finish();
  const gz = concat(gzParts);
  return { json: new TextDecoder().decode(gunzipSync(gz)), gz, result, files };
}

const GO = ["--graph", `${root}/G`, "--run", `${root}/R`, "--storage-driver", "vfs"];

/** Applies `bytes` with Go's containers-storage; returns its tar-split JSON and layer record. */
async function goApply(bytes: Uint8Array): Promise<
  { id: string; json: string; record: Record<string, unknown> }
> {
  const path = `${root}/go-input-${crypto.randomUUID()}`;
  await Deno.writeFile(path, bytes);
  const id = new TextDecoder().decode(await run("containers-storage", [...GO, "create-layer"]))
    .trim();
  await run("containers-storage", [...GO, "applydiff", "-f", path, id]);
  const json = new TextDecoder().decode(
    gunzipSync(await Deno.readFile(`${root}/G/vfs-layers/${id}.tar-split.gz`)),
  );
  const layers = JSON.parse(await Deno.readTextFile(`${root}/G/vfs-layers/layers.json`));
  return { id, json, record: layers.find((l: { id: string }) => l.id === id) };
}

Deno.test("crc64: check value, incremental updates, every alignment", () => {
  assert.equal(crc64(new TextEncoder().encode("123456789")), 0xb90956c775a41001n);
  assert.equal(crc64(new Uint8Array(0)), 0n);
  const naive = (b: Uint8Array): bigint => {
    let c = 0xffffffffffffffffn;
    for (const x of b) {
      c ^= BigInt(x);
      for (let j = 0; j < 8; j++) c = (c & 1n) ? (c >> 1n) ^ 0xd800000000000000n : c >> 1n;
    }
    return c ^ 0xffffffffffffffffn;
  };
  const data = crypto.getRandomValues(new Uint8Array(3000));
  for (const [start, end] of [[0, 1], [1, 9], [3, 70], [5, 2999], [0, 3000]]) {
    assert.equal(crc64(data.subarray(start, end)), naive(data.subarray(start, end)));
  }
  const c = new Crc64();
  for (let i = 0; i < data.length; i += 97) c.update(data.subarray(i, i + 97));
  assert.equal(c.value(), naive(data));
  assert.deepEqual(
    new Crc64().update(new TextEncoder().encode("123456789")).digest(),
    new Uint8Array([0xb9, 0x09, 0x56, 0xc7, 0x75, 0xa4, 0x10, 0x01]),
  );
});

Deno.test("crc64: throughput", () => {
  const data = new Uint8Array(64 << 20);
  for (let i = 0; i < data.length; i += 65536) crypto.getRandomValues(data.subarray(i, i + 65536));
  const t0 = performance.now();
  const c = new Crc64();
  for (let i = 0; i < data.length; i += 65536) c.update(data.subarray(i, i + 65536));
  const mbps = 64 / ((performance.now() - t0) / 1000);
  console.log(`crc64: ${mbps.toFixed(0)} MB/s`);
  assert.ok(mbps > 200, `crc64 too slow: ${mbps.toFixed(0)} MB/s`);
});

Deno.test("tar-split JSON strings are escaped as Go's encoding/json does", () => {
  assert.equal(goJsonString("plain/name.txt"), '"plain/name.txt"');
  assert.equal(
    goJsonString('a<b>&c"d\\e\n\r\t\x01\x1f\x7f\u2028\u2029é€\b\f'),
    '"a\\u003cb\\u003e\\u0026c\\"d\\\\e\\n\\r\\t\\u0001\\u001f\x7f\\u2028\\u2029é€\\u0008\\u000c"',
  );
});

testIf(
  goAvailable,
  NO_GO,
  "tar-split: JSON lines identical to Go's containers-storage",
  async (t) => {
    for (const [name, bytes] of inputs) {
      await t.step(name, async () => {
        const go = await goApply(bytes);
        const mine = await record(bytes, name !== "gnu"); // also with bodies left unread
        assert.equal(mine.result.compressedDigest, go.record["compressed-diff-digest"]);
        assert.equal(mine.result.compressedSize, go.record["compressed-size"]);
        assert.equal(mine.result.uncompressedDigest, go.record["diff-digest"]);
        assert.equal(mine.result.uncompressedSize, go.record["diff-size"]);
        if (name === "gzip") {
          // Go's gzip reader hands out the bytes after the archive in reads of
          // its own shape; only the concatenation of segments can match.
          assert.deepEqual(segmentsJoined(mine.json), segmentsJoined(go.json));
          assert.deepEqual(fileLines(mine.json), fileLines(go.json));
        } else {
          assert.equal(mine.json, go.json);
        }
      });
    }
  },
);

function fileLines(json: string): string[] {
  return json.split("\n").filter((l) => l.startsWith('{"type":1'))
    .map((l) => l.replace(/"position":\d+/, ""));
}

function segmentsJoined(json: string): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const l of json.split("\n")) {
    if (!l.startsWith('{"type":2')) continue;
    const p = JSON.parse(l).payload as string;
    parts.push(Uint8Array.from(atob(p), (c) => c.charCodeAt(0)));
  }
  return concat(parts);
}

function serve(files: Map<string, Uint8Array>) {
  return (name: string): Promise<ReadableStream<Uint8Array>> => {
    const b = files.get(name);
    if (!b) return Promise.reject(new Error(`no such file ${name}`));
    return Promise.resolve(chunked(b, 4096));
  };
}

Deno.test("tar-split: pack then assemble gives the same bytes", async (t) => {
  for (const [name, bytes] of inputs) {
    await t.step(name, async () => {
      const mine = await record(bytes);
      const plain = name === "gzip" ? gunzipSync(bytes) : bytes;
      const out = await readAllBytes(assembleTar(chunked(mine.gz, 1000), serve(mine.files)));
      assert.equal(out.length, plain.length);
      assert.equal(sha256(out), sha256(plain));
      assert.equal(sha256(out), mine.result.uncompressedDigest);
    });
  }
});

testIf(
  goAvailable,
  NO_GO,
  "tar-split: assembling from Go's tar-split and extracted files",
  async () => {
    const bytes = inputs.get("pax-xattrs")!;
    const go = await goApply(bytes);
    const dir = `${root}/G/vfs/dir/${go.id}`;
    const out = await readAllBytes(assembleTar(
      (await Deno.open(`${root}/G/vfs-layers/${go.id}.tar-split.gz`)).readable,
      (_name, e) => {
        // Deno paths are strings, so a file whose name is not UTF-8 cannot be
        // opened; its content is known from the fixture.
        if (!isValidUtf8(e.nameBytes)) {
          return Promise.resolve(chunked(new TextEncoder().encode("raw name\n")));
        }
        return Deno.open(`${dir}/${e.name}`);
      },
    ));
    assert.equal(sha256(out), sha256(bytes));
  },
);

Deno.test("tar-split: changed content fails the integrity check", async () => {
  const mine = await record(inputs.get("small")!);
  const files = new Map(mine.files);
  files.set("hello.txt", new TextEncoder().encode("HELLO\n"));
  await assert.rejects(
    () => readAllBytes(assembleTar(chunked(mine.gz), serve(files))),
    /file integrity checksum failed for "hello.txt"/,
  );
  files.set("hello.txt", new TextEncoder().encode("hello\nand more"));
  await assert.rejects(
    () => readAllBytes(assembleTar(chunked(mine.gz), serve(files))),
    /file integrity checksum failed for "hello.txt"/,
  );
  await assert.rejects(
    () => readAllBytes(assembleTar(chunked(mine.gz), serve(new Map()))),
    /no such file hello.txt/,
  );
});

/** A tar with entries `a` and `./a`. */
async function duplicateTar(): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const tw = new TarWriter({ write: (c) => Promise.resolve(void parts.push(c)) });
  await tw.writeEntry({ name: "a", type: "0", size: 1, mode: 0o644 }, new Uint8Array([1]));
  await tw.writeEntry({ name: "./a", type: "0", size: 1, mode: 0o644 }, new Uint8Array([2]));
  await tw.close();
  return concat(parts);
}

Deno.test("tar-split: duplicate cleaned names are refused when packing and reading", async () => {
  const dup = await duplicateTar();
  await assert.rejects(() => record(dup), /duplicates of file paths not supported/);
  if (goAvailable) {
    await assert.rejects(() => goApply(dup), /duplicates of file paths not supported/);
  }
  const lines = [
    '{"type":1,"name":"x/y","payload":null,"position":0}',
    '{"type":1,"name":"x/./y/","payload":null,"position":1}',
  ].join("\n") + "\n";
  const gz = gzipSync(new TextEncoder().encode(lines));
  const seen: TarSplitEntry[] = [];
  await assert.rejects(async () => {
    for await (const e of readTarSplit(chunked(gz))) seen.push(e);
  }, /duplicates of file paths not supported/);
  assert.equal(seen.length, 1);
});

Deno.test("tar-split packer: a failing sink fails the packer instead of hanging", async () => {
  const packer = new TarSplitPacker({ write: () => Promise.reject(new Error("disk full")) });
  const big = crypto.getRandomValues(new Uint8Array(60000));
  await assert.rejects(async () => {
    for (let i = 0; i < 200; i++) await packer.addSegment(big);
    await packer.close();
  }, /disk full/);
});

Deno.test("tar-split reader: name_raw, null payloads, a torn last line", async () => {
  const lines = [
    '{"type":2,"payload":"AAEC","position":0}',
    '{"type":1,"name_raw":"bGF0aW4x6Q==","size":3,"payload":"AAAAAAAAAAA=","position":1}',
    '{"type":1,"name":"d/","payload":null,"position":2}',
    '{"type":2,"payload":"","position":3}',
    '{"type":2,"payl',
  ].join("\n");
  const got: TarSplitEntry[] = [];
  for await (const e of readTarSplit(chunked(gzipSync(new TextEncoder().encode(lines)), 7))) {
    got.push(e);
  }
  assert.equal(got.length, 4);
  assert.deepEqual(got[0].payload, new Uint8Array([0, 1, 2]));
  assert.deepEqual(got[1].nameBytes, new Uint8Array([0x6c, 0x61, 0x74, 0x69, 0x6e, 0x31, 0xe9]));
  assert.equal(got[1].size, 3);
  assert.equal(got[2].payload, null);
  assert.equal(got[2].name, "d/");
  assert.deepEqual(got[3].payload, new Uint8Array(0));
});

Deno.test("tar-split: a reader that is not ours still records a concatenation-identical stream", async () => {
  const bytes = inputs.get("git-archive")!;
  const inner = readTar(chunked(bytes));
  // Hide the split details: a plain TarReader.
  const plain = {
    next: async () => {
      const e = await inner.next();
      return e && { header: e.header, raw: e.raw, body: e.body };
    },
    trailer: () => inner.trailer(),
    rest: () => inner.rest(),
  };
  const gzParts: Uint8Array[] = [];
  const packer = new TarSplitPacker({ write: (c) => Promise.resolve(void gzParts.push(c)) });
  const tr = recordTarSplit(plain, packer);
  const files = new Map<string, Uint8Array>();
  for (let e = await tr.next(); e; e = await tr.next()) {
    files.set(e.header.name, await readAllBytes(e.body()));
  }
  for await (const _ of tr.rest()) { /* recorded */ }
  await packer.close();
  const out = await readAllBytes(assembleTar(chunked(concat(gzParts)), serve(files)));
  assert.equal(sha256(out), sha256(bytes));
});

Deno.test("tar read + tar-split + hash throughput (20k files, ~100 MB)", async () => {
  // Generated in memory: 20,000 files of ~5 KB.
  const parts: Uint8Array[] = [];
  const tw = new TarWriter({ write: (c) => Promise.resolve(void parts.push(c)) });
  const body = crypto.getRandomValues(new Uint8Array(5000));
  for (let i = 0; i < 20000; i++) {
    await tw.writeEntry(
      { name: `dir${i % 100}/file${i}`, type: "0", mode: 0o644, size: 5000 },
      body,
    );
  }
  await tw.close();
  const bytes = concat(parts);
  const path = `${root}/perf.tar`;
  await Deno.writeFile(path, bytes);
  const t0 = performance.now();
  const gzParts: Uint8Array[] = [];
  const packer = new TarSplitPacker({ write: (c) => Promise.resolve(void gzParts.push(c)) });
  const layer = await openLayerStream(await Deno.open(path));
  const tr = recordTarSplit(layer.tar, packer);
  let n = 0;
  for (let e = await tr.next(); e; e = await tr.next()) {
    for await (const _ of e.body()) { /* consumed */ }
    n++;
  }
  for await (const _ of tr.rest()) { /* recorded */ }
  await packer.close();
  const r = await layer.finish();
  const secs = (performance.now() - t0) / 1000;
  console.log(
    `read+tar-split+sha256: ${(bytes.length / 1e6 / secs).toFixed(0)} MB/s, ` +
      `${(n / secs).toFixed(0)} entries/s`,
  );
  assert.equal(n, 20000);
  assert.equal(r.uncompressedDigest, sha256(bytes));
});
