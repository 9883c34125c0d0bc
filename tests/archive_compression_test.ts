import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import {
  compress,
  Compression,
  compressionExtension,
  type CompressionKind,
  decompress,
  detectCompression,
} from "../src/archive/compression.ts";
import { DigestCounter, digestStream } from "../src/archive/digest.ts";
import { openLayerStream } from "../src/archive/layer_stream.ts";
import { chunked, concat, readAllBytes, run, sha256 } from "./fixtures/archive/tar_fixtures.ts";

const KINDS: [string, CompressionKind, string[]][] = [
  ["none", Compression.none, ["cat"]],
  ["bzip2", Compression.bzip2, ["bzip2", "-c"]],
  ["gzip", Compression.gzip, ["gzip", "-c"]],
  ["xz", Compression.xz, ["xz", "-c"]],
  ["zstd", Compression.zstd, ["zstd", "-q", "-c"]],
];

/** Compressible but not trivial test data. */
function sample(n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = 12345;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = (i % 1000 < 600) ? 0x61 + (i % 7) : x >>> 24;
  }
  return out;
}

const data = sample(3 * 1024 * 1024 + 17);

/** Compressed with the format's command-line program. */
async function cli(argv: string[], input: Uint8Array): Promise<Uint8Array> {
  return await run(argv[0], argv.slice(1), { stdin: input });
}

Deno.test("compression: values persisted in layer records", () => {
  assert.deepEqual(Compression, { none: 0, bzip2: 1, gzip: 2, xz: 3, zstd: 4 });
  assert.equal(compressionExtension(Compression.bzip2), "tar.bz2");
  assert.equal(compressionExtension(Compression.xz), "tar.xz");
});

Deno.test("compression: detection by magic bytes", async () => {
  for (const [name, kind, argv] of KINDS) {
    const packed = await cli(argv, data.subarray(0, 1000));
    assert.equal(detectCompression(packed.subarray(0, 10240)), kind, name);
  }
  assert.equal(detectCompression(new Uint8Array([0x1f, 0x8b])), Compression.none, "too short");
  assert.equal(detectCompression(new Uint8Array([0x1f, 0x8b, 0x07])), Compression.none);
  assert.equal(detectCompression(new TextEncoder().encode("BZh91AY")), Compression.bzip2);
  assert.equal(detectCompression(new Uint8Array(0)), Compression.none);
});

Deno.test("compression: round trips for all kinds, and the programs' output decodes", async (t) => {
  for (const [name, kind, argv] of KINDS) {
    await t.step(name, async () => {
      const packed = await readAllBytes(compress(chunked(data, 100_000), kind));
      if (kind !== Compression.none) assert.ok(packed.length < data.length, "compressed");
      assert.equal(detectCompression(packed), kind);
      const back = await readAllBytes(decompress(chunked(packed, 7777), kind));
      assert.equal(sha256(back), sha256(data));
      const theirs = await cli(argv, data);
      const back2 = await readAllBytes(decompress(chunked(theirs, 4096), kind));
      assert.equal(sha256(back2), sha256(data));
      // Their program reads ours.
      if (kind !== Compression.none) {
        const dec = await run(argv[0], ["-dc"], { stdin: packed });
        assert.equal(sha256(dec), sha256(data));
      }
    });
  }
});

Deno.test("compression: multi-member gzip and multi-frame zstd are read whole", async () => {
  const a = data.subarray(0, 1000);
  const b = data.subarray(1000, 5000);
  const gz = concat([gzipSync(a), gzipSync(b)]);
  assert.deepEqual(
    await readAllBytes(decompress(chunked(gz, 100), Compression.gzip)),
    data.subarray(0, 5000),
  );
  const zst = concat([await cli(["zstd", "-q", "-c"], a), await cli(["zstd", "-q", "-c"], b)]);
  assert.deepEqual(
    await readAllBytes(decompress(chunked(zst, 100), Compression.zstd)),
    data.subarray(0, 5000),
  );
});

Deno.test("compression: truncated input → unexpected EOF, corrupt input → a clear error", async (t) => {
  for (const [name, kind, argv] of KINDS) {
    if (kind === Compression.none) continue;
    const packed = await cli(argv, data);
    await t.step(`${name} truncated`, async () => {
      for (const cut of [packed.length - 1, packed.length >> 1, 20]) {
        await assert.rejects(
          () => readAllBytes(decompress(chunked(packed.subarray(0, cut), 5000), kind)),
          /unexpected EOF/,
          `${name} cut at ${cut}`,
        );
      }
    });
    await t.step(`${name} corrupt`, async () => {
      const bad = packed.slice();
      for (let i = 0; i < 64; i++) bad[(packed.length >> 1) + i] ^= 0x5a;
      await assert.rejects(
        () => readAllBytes(decompress(chunked(bad, 5000), kind)),
        (err: Error) => err.message.length > 0 && !/^undefined/.test(err.message),
      );
    });
    await t.step(`${name} garbage after the magic`, async () => {
      const magic = packed.subarray(0, 6);
      const junk = concat([
        magic,
        new TextEncoder().encode("definitely not compressed data".repeat(10)),
      ]);
      await assert.rejects(() => readAllBytes(decompress(chunked(junk), kind)));
    });
  }
});

Deno.test("digest: pass-through SHA-256 and size", async () => {
  const { stream, done } = digestStream(chunked(data, 12345));
  const out = await readAllBytes(stream);
  assert.deepEqual(out.length, data.length);
  assert.deepEqual(await done, { digest: sha256(data), size: data.length });
  const c = new DigestCounter();
  c.update(data.subarray(0, 10));
  c.update(data.subarray(10));
  assert.equal(c.result().digest, sha256(data));
  assert.equal(
    new DigestCounter().result().digest,
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
});

/** A tar of a few files (made with GNU tar in a temp dir). */
async function smallTar(): Promise<Uint8Array> {
  const dir = await Deno.makeTempDir({ prefix: "cstor-comp-test-" });
  try {
    await Deno.writeFile(`${dir}/a`, data.subarray(0, 100_000));
    await Deno.writeTextFile(`${dir}/b`, "bee\n");
    return await run("tar", ["--format=pax", "-cf", "-", "-C", dir, "a", "b"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("layer stream: detects, hashes both forms, hands the tar over (all kinds)", async (t) => {
  const tar = await smallTar();
  for (const [name, kind, argv] of KINDS) {
    await t.step(name, async () => {
      const packed = await cli(argv, tar);
      // 1-byte first chunk: sniffing must still see the magic.
      const input = concat([packed]);
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(input.slice(0, 1));
          for (let i = 1; i < input.length; i += 3000) c.enqueue(input.slice(i, i + 3000));
          c.close();
        },
      });
      const layer = await openLayerStream(stream);
      assert.equal(layer.compression, kind);
      const names: string[] = [];
      for (let e = await layer.tar.next(); e; e = await layer.tar.next()) names.push(e.header.name);
      for await (const _ of layer.tar.rest()) { /* drained */ }
      const r = await layer.finish();
      assert.deepEqual(names, ["a", "b"]);
      assert.equal(r.compressedDigest, sha256(packed));
      assert.equal(r.compressedSize, packed.length);
      assert.equal(r.uncompressedDigest, sha256(tar));
      assert.equal(r.uncompressedSize, tar.length);
    });
  }
});

Deno.test("layer stream: finish() hashes what nobody parsed; a Deno.FsFile works as input", async () => {
  const tar = concat([await smallTar(), new TextEncoder().encode("trailing bytes")]);
  const gz = gzipSync(tar);
  const path = await Deno.makeTempFile();
  try {
    await Deno.writeFile(path, gz);
    const layer = await openLayerStream(await Deno.open(path));
    assert.equal(layer.compression, Compression.gzip);
    await layer.tar.next(); // stop after the first entry
    const r = await layer.finish();
    assert.equal(r.uncompressedDigest, sha256(tar));
    assert.equal(r.compressedDigest, sha256(gz));
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("layer stream: truncated or corrupt compressed input fails, never hangs", async () => {
  const gz = gzipSync(await smallTar());
  const layer = await openLayerStream(chunked(gz.subarray(0, gz.length - 30)));
  await assert.rejects(async () => {
    for (let e = await layer.tar.next(); e; e = await layer.tar.next()) {
      for await (const _ of e.body()) { /* read */ }
    }
    await layer.finish();
  }, /unexpected EOF/);
});

Deno.test("layer stream: 256 MiB of zeros through gzip in bounded memory", async () => {
  const SIZE = 256 * 1024 * 1024;
  const zeros = new Uint8Array(1024 * 1024);
  const expected = new DigestCounter();
  // A generated tar: one header, SIZE zero bytes, end blocks; never held whole.
  const header = await (async () => {
    const { TarWriter } = await import("../src/archive/tar_writer.ts");
    const parts: Uint8Array[] = [];
    const tw = new TarWriter({ write: (c) => Promise.resolve(void parts.push(c)) });
    await tw.writeHeader({ name: "zeros", type: "0", mode: 0o644, size: SIZE });
    await tw.flush();
    return concat(parts);
  })();
  let sent = -1;
  const tarStream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent === -1) {
        expected.update(header);
        c.enqueue(header);
        sent = 0;
      } else if (sent < SIZE) {
        expected.update(zeros);
        c.enqueue(zeros);
        sent += zeros.length;
      } else {
        const end = new Uint8Array(1024);
        expected.update(end);
        c.enqueue(end);
        c.close();
      }
    },
  }, { highWaterMark: 0 });
  const compressed = new DigestCounter();
  const gz = compress(tarStream, Compression.gzip, { level: 1 }).pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, c) {
        compressed.update(chunk);
        c.enqueue(chunk);
      },
    }),
  );
  // This isolate's heap plus the buffers it holds: unlike the process's
  // RSS, not moved by the other test modules that --parallel runs beside us.
  const used = () => {
    const m = Deno.memoryUsage();
    return m.heapUsed + m.external;
  };
  const usedBefore = used();
  let peak = usedBefore;
  const layer = await openLayerStream(gz);
  const e = await layer.tar.next();
  assert.ok(e);
  let got = 0;
  let i = 0;
  for await (const c of e.body()) {
    got += c.length;
    if (++i % 64 === 0) peak = Math.max(peak, used());
  }
  assert.equal(await layer.tar.next(), null);
  const r = await layer.finish();
  assert.equal(got, SIZE);
  assert.equal(r.uncompressedSize, SIZE + 512 + 1024);
  assert.equal(r.uncompressedDigest, expected.result().digest);
  assert.equal(r.compressedDigest, compressed.result().digest);
  const growth = (peak - usedBefore) / 1024 / 1024;
  console.log(`heap+external growth while streaming 256 MiB: ${growth.toFixed(0)} MiB`);
  assert.ok(growth < 128, `memory grew by ${growth.toFixed(0)} MiB`);
});
