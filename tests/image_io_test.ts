/**
 * Image import and export: reference and name parsing, platform choice,
 * the records an import writes, layer reuse, byte-identical export, the
 * archive transports, bad input (nothing half-imported stays), and the
 * `import` / `export` commands.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { cli, tempStore } from "./helpers.ts";
import { openStore, type Store } from "../src/store.ts";
import { Compression } from "../src/archive/compression.ts";
import { importImage } from "../src/image_io/import_image.ts";
import { exportImage } from "../src/image_io/export_image.ts";
import { ImageInputError } from "../src/image_io/errors.ts";
import { parseTransportRef } from "../src/image_io/transport_ref.ts";
import { normalizeImageName } from "../src/image_io/image_name.ts";
import { chooseInstance, parsePlatform } from "../src/image_io/platform.ts";
import { chainLayerID, goTimeString } from "../src/image_io/storage_keys.ts";
import { sha256Digest } from "../src/image_io/blob_check.ts";
import { ProgressLine } from "../src/image_io/progress_line.ts";
import type { TransferEvent } from "../src/image_io/progress.ts";
import { buildSampleImage, writeDockerArchive } from "../demo/sample_image.ts";

const BASE = { files: { "/etc/os-release": "NAME=sample\n", "/usr/share/doc/a.txt": "a\n" } };
const TOP = { files: { "/srv/hello.txt": "hello\n" }, compression: Compression.none };

async function withStore(fn: (store: Store, dir: string) => Promise<void>): Promise<void> {
  const t = await tempStore();
  const store = await openStore({ graphRoot: t.graph, runRoot: t.run, driver: "vfs" });
  try {
    await fn(store, t.dir);
  } finally {
    await t.cleanup();
  }
}

function blobFile(dir: string, digest: string): string {
  return join(dir, "blobs", "sha256", digest.slice(7));
}

async function readJSON(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(path));
}

async function writeJSON(path: string, value: unknown): Promise<string> {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  await Deno.writeFile(path, bytes);
  return sha256Digest(bytes);
}

/** Replaces the manifest blob of `dir` (single image) with `edit(manifest)`; returns the new digest. */
async function editManifest(
  dir: string,
  edit: (m: Record<string, unknown>) => void,
): Promise<string> {
  const index = await readJSON(join(dir, "index.json"));
  const entry = (index.manifests as Record<string, unknown>[])[0];
  const manifest = await readJSON(blobFile(dir, entry.digest as string));
  edit(manifest);
  const bytes = new TextEncoder().encode(JSON.stringify(manifest));
  const digest = sha256Digest(bytes);
  await Deno.writeFile(blobFile(dir, digest), bytes);
  entry.digest = digest;
  entry.size = bytes.length;
  await writeJSON(join(dir, "index.json"), index);
  return digest;
}

Deno.test("transport references and image names parse as skopeo reads them", () => {
  assert.deepEqual(parseTransportRef("oci:/a/b:latest"), {
    transport: "oci",
    path: "/a/b",
    ref: "latest",
  });
  assert.deepEqual(parseTransportRef("oci-archive:x.tar"), {
    transport: "oci-archive",
    path: "x.tar",
    ref: "",
  });
  assert.deepEqual(parseTransportRef("docker-archive:x.tar:foo/bar:1"), {
    transport: "docker-archive",
    path: "x.tar",
    ref: "foo/bar:1",
  });
  for (const bad of ["dir:/x", "oci:", "/x", "oci:/x:"]) {
    assert.throws(() => parseTransportRef(bad), ImageInputError, bad);
  }
  assert.equal(normalizeImageName("busybox"), "docker.io/library/busybox:latest");
  assert.equal(normalizeImageName("localhost/x"), "localhost/x:latest");
  assert.equal(normalizeImageName("quay.io/a/b:1"), "quay.io/a/b:1");
  assert.equal(normalizeImageName("index.docker.io/foo/bar"), "docker.io/foo/bar:latest");
  assert.equal(normalizeImageName("host:5000/x:y"), "host:5000/x:y");
  const digest = `sha256:${"a".repeat(64)}`;
  assert.equal(normalizeImageName(`x@${digest}`), `docker.io/library/x@${digest}`);
  for (const bad of ["UPPER", "a:b:c", "x:-tag", "x@sha256:12"]) {
    assert.throws(() => normalizeImageName(bad), ImageInputError, bad);
  }
});

Deno.test("layer IDs chain and config times are kept as Go writes them", () => {
  const a = `sha256:${"1".repeat(64)}`;
  assert.equal(chainLayerID("", a), "1".repeat(64));
  // Known value from a skopeo-written store.
  assert.equal(
    chainLayerID(
      "78d923507f9e2a9b71d90df3c4b034029aeddf6c3378e01767bcc8ae26e5b9c3",
      "sha256:07a8c41a37bd493fcd6bb823b0f56309fcb8f90aeee1d9f6e50cccfb2d0f1667",
    ),
    "cf1c5410d54f686f6eb073a9f7d233ece580c6670a399f4c7b84cd54fb7781d9",
  );
  assert.equal(goTimeString("2024-01-02T03:04:05Z"), "2024-01-02T03:04:05Z");
  assert.equal(goTimeString("2024-01-02T03:04:05.500000Z"), "2024-01-02T03:04:05.5Z");
  assert.equal(goTimeString("2024-01-02T05:04:05.0+02:00"), "2024-01-02T05:04:05+02:00");
  assert.equal(goTimeString("2024-01-02T05:04:05+00:00"), "2024-01-02T05:04:05Z");
  assert.equal(goTimeString("yesterday"), undefined);
});

Deno.test("platform choice from an index", () => {
  const d = (os: string, architecture: string, variant?: string) => ({
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    digest: `sha256:${"0".repeat(64)}`,
    size: 1,
    platform: { os, architecture, ...(variant ? { variant } : {}) },
  });
  const index = {
    kind: "index" as const,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [d("linux", "arm", "v7"), d("linux", "arm64", "v8"), d("linux", "amd64")],
  };
  assert.equal(chooseInstance(index, parsePlatform("linux/amd64"), "i"), index.manifests[2]);
  assert.equal(chooseInstance(index, parsePlatform("linux/arm64"), "i"), index.manifests[1]);
  assert.equal(chooseInstance(index, parsePlatform("linux/arm/v7"), "i"), index.manifests[0]);
  assert.throws(
    () => chooseInstance(index, parsePlatform("linux/s390x"), "i"),
    (e: unknown) => e instanceof ImageInputError && e.reason === "no-platform",
  );
  assert.throws(() => parsePlatform("linux"), ImageInputError);
});

Deno.test("import stores records as c/image does, and export gives the same blobs back", async () => {
  await withStore(async (store, dir) => {
    const layout = join(dir, "layout");
    const built = await buildSampleImage(layout, [BASE, TOP], {
      ref: "v1",
      created: "2024-03-04T05:06:07.000Z",
    });
    const events: TransferEvent[] = [];
    const r = await importImage(store, built.location, {
      names: ["sample"],
      onProgress: (e) => events.push(e),
    });
    const image = r.image;
    assert.equal(image.id, built.configDigest.slice(7));
    assert.equal(image.digest, built.manifestDigest);
    assert.deepEqual(image.names, ["docker.io/library/sample:latest"]);
    assert.deepEqual(image.namesHistory, ["docker.io/library/sample:latest"]);
    assert.equal(image.created, "2024-03-04T05:06:07Z");
    assert.deepEqual(image.bigDataNames, [
      built.configDigest,
      `manifest-${built.manifestDigest}`,
      "manifest",
      `signature-${built.manifestDigest.slice(7)}`,
    ]);
    assert.equal(
      image.metadata,
      `{"signatures-sizes":{"${built.manifestDigest}":[]}}`,
    );
    assert.equal(image.bigDataSizes[`signature-${built.manifestDigest.slice(7)}`], 0);
    const l1 = chainLayerID("", built.layers[0].diffID);
    const l2 = chainLayerID(l1, built.layers[1].diffID);
    assert.deepEqual(r.layers.map((l) => l.id), [l1, l2]);
    assert.equal(image.topLayer, l2);
    const base = (await store.layer(l1))!;
    assert.equal(base.compressedDigest, built.layers[0].digest);
    assert.equal(base.compression, Compression.gzip);
    assert.equal(base.uncompressedDigest, built.layers[0].diffID);
    const top = (await store.layer(l2))!;
    assert.equal(top.parent, l1);
    assert.equal(top.compressedDigest, top.uncompressedDigest);
    assert.deepEqual(events.map((e) => e.kind).filter((k) => k !== "bytes"), [
      "start",
      "layer",
      "layer-done",
      "layer",
      "layer-done",
    ]);

    // Export: the manifest, config and layer blobs come back unchanged.
    const out = join(dir, "out");
    const ex = await exportImage(store, "sample", `oci:${out}:again`);
    assert.equal(ex.manifestDigest, built.manifestDigest);
    assert.ok(ex.originalManifest);
    assert.ok(ex.layers.every((l) => l.identical));
    for (
      const d of [
        built.manifestDigest,
        built.configDigest,
        ...built.layers.map((l) => l.digest),
      ]
    ) {
      assert.deepEqual(
        await Deno.readFile(blobFile(out, d)),
        await Deno.readFile(blobFile(layout, d)),
      );
    }
    const index = await readJSON(join(out, "index.json"));
    assert.deepEqual(index.manifests, [{
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: built.manifestDigest,
      size: (await Deno.stat(blobFile(layout, built.manifestDigest))).size,
      annotations: { "org.opencontainers.image.ref.name": "again" },
    }]);
    assert.equal(
      await Deno.readTextFile(join(out, "oci-layout")),
      '{"imageLayoutVersion": "1.0.0"}',
    );
  });
});

Deno.test("layers already in the store are reused; names go first, old ones after", async () => {
  await withStore(async (store, dir) => {
    const layout = join(dir, "layout");
    const a = await buildSampleImage(layout, [BASE, TOP], { ref: "a" });
    const b = await buildSampleImage(layout, [BASE, { files: { "/srv/b": "b\n" } }], { ref: "b" });
    const first = await importImage(store, a.location, { names: ["localhost/a:1"] });
    assert.ok(first.created && first.layers.every((l) => !l.reused));
    const again = await importImage(store, a.location, { names: ["localhost/a:2"] });
    assert.ok(!again.created && again.layers.every((l) => l.reused));
    assert.deepEqual(again.image.names, ["localhost/a:2", "localhost/a:1"]);
    const other = await importImage(store, b.location, { names: ["localhost/b:1"] });
    assert.deepEqual(other.layers.map((l) => l.reused), [true, false]);
    assert.equal(other.layers[0].id, first.layers[0].id);
    assert.equal((await store.layers()).length, 3);
  });
});

Deno.test("oci-archive round trip, and a layer cstor did not compress is recompressed with the DiffID kept", async () => {
  await withStore(async (store, dir) => {
    const layout = join(dir, "layout");
    const built = await buildSampleImage(layout, [BASE, TOP], { ref: "v1" });
    // Recompress layer 1 with gzip(1) at level 9: not reproducible by cstor.
    const gz = new Deno.Command("gzip", {
      args: ["-9", "-n", "-c"],
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    const tar = await new Response(
      (await Deno.open(blobFile(layout, built.layers[0].digest))).readable.pipeThrough(
        new DecompressionStream("gzip"),
      ),
    ).bytes();
    const w = gz.stdin.getWriter();
    await w.write(tar);
    await w.close();
    const foreign = (await gz.output()).stdout;
    const foreignDigest = sha256Digest(foreign);
    await Deno.writeFile(blobFile(layout, foreignDigest), foreign);
    await editManifest(layout, (m) => {
      const l = (m.layers as Record<string, unknown>[])[0];
      l.digest = foreignDigest;
      l.size = foreign.length;
    });
    await importImage(store, `oci:${layout}:v1`, { names: ["localhost/x"] });
    const archive = join(dir, "x.tar");
    const ex = await exportImage(store, "localhost/x", `oci-archive:${archive}:v1`);
    assert.ok(!ex.originalManifest);
    assert.deepEqual(ex.layers.map((l) => l.identical), [false, true]);
    assert.equal(ex.layers[0].diffID, built.layers[0].diffID);
    assert.equal(ex.layers[0].mediaType, "application/vnd.oci.image.layer.v1.tar+gzip");
    assert.equal(ex.configDigest, built.configDigest);

    // The archive imports into another store as the same image with the same layers.
    const t2 = await tempStore();
    try {
      const other = await openStore({ graphRoot: t2.graph, runRoot: t2.run, driver: "vfs" });
      const r = await importImage(other, `oci-archive:${archive}:v1`);
      assert.equal(r.image.id, built.configDigest.slice(7));
      assert.equal(r.image.digest, ex.manifestDigest);
      assert.deepEqual(
        r.layers.map((l) => l.id),
        (await store.layers()).map((l) => l.id),
      );
    } finally {
      await t2.cleanup();
    }
  });
});

Deno.test("docker-archive: manifest made as c/image makes it, names from RepoTags", async () => {
  await withStore(async (store, dir) => {
    const archive = join(dir, "d.tar");
    const made = await writeDockerArchive(archive, [BASE, TOP], ["example.com/d:1"]);
    const r = await importImage(store, `docker-archive:${archive}`);
    assert.deepEqual(r.image.names, ["example.com/d:1"]);
    assert.equal(r.image.id, made.configDigest.slice(7));
    assert.equal(r.image.created, "2024-02-03T04:05:06.5Z");
    const manifest = new TextDecoder().decode(await store.imageBigData(r.image.id, "manifest"));
    const config = await store.imageBigData(r.image.id, made.configDigest);
    const sizes: number[] = [];
    for (const l of r.layers) sizes.push((await store.layer(l.id))!.uncompressedSize);
    assert.equal(
      manifest,
      `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",` +
        `"config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":${config.length},` +
        `"digest":"${made.configDigest}"},"layers":[` +
        made.diffIDs.map((d, i) =>
          `{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":${
            sizes[i]
          },"digest":"${d}"}`
        ).join(",") + "]}",
    );
    assert.equal(r.image.digest, sha256Digest(new TextEncoder().encode(manifest)));
    // By tag and by index.
    await importImage(store, `docker-archive:${archive}:example.com/d:1`, { names: ["x"] });
    await importImage(store, `docker-archive:${archive}:@0`, { names: ["y"] });
    await assert.rejects(
      importImage(store, `docker-archive:${archive}:nope`),
      (e: unknown) => e instanceof ImageInputError && e.reason === "not-found",
    );
    // Exported as OCI, with honest media types for the plain tar layers.
    const ex = await exportImage(store, "x", `oci:${join(dir, "out")}`);
    assert.ok(!ex.originalManifest);
    assert.deepEqual(ex.layers.map((l) => l.digest), made.diffIDs);
    assert.ok(ex.layers.every((l) => l.mediaType === "application/vnd.oci.image.layer.v1.tar"));
  });
});

/** Asserts that importing fails with `reason` and leaves `before` layers and no new image. */
async function assertRefused(
  store: Store,
  location: string,
  reason: string,
  before: { layers: string[]; images: string[] },
  options: { platform?: string } = {},
): Promise<void> {
  await assert.rejects(
    importImage(store, location, {
      names: ["bad"],
      platform: options.platform ? parsePlatform(options.platform) : undefined,
    }),
    (e: unknown) => {
      assert.ok(e instanceof ImageInputError, String(e));
      assert.equal(e.reason, reason, e.message);
      return true;
    },
  );
  assert.deepEqual((await store.layers()).map((l) => l.id).sort(), [...before.layers].sort());
  assert.deepEqual((await store.images()).map((i) => i.id).sort(), [...before.images].sort());
}

Deno.test("bad input is refused and nothing half-imported stays", async (t) => {
  await withStore(async (store, dir) => {
    // An image already there: its layers must survive failed imports that share them.
    const good = await buildSampleImage(join(dir, "good"), [BASE]);
    const kept = await importImage(store, good.location, { names: ["good"] });
    const before = { layers: kept.layers.map((l) => l.id), images: [kept.image.id] };
    let n = 0;
    const fresh = async () => {
      const d = join(dir, `bad${n++}`);
      return { dir: d, built: await buildSampleImage(d, [BASE, TOP, { files: { "/z": "z" } }]) };
    };

    await t.step("missing layer blob", async () => {
      const { dir: d, built } = await fresh();
      await Deno.remove(blobFile(d, built.layers[2].digest));
      await assertRefused(store, `oci:${d}`, "missing-blob", before);
    });
    await t.step("missing config blob", async () => {
      const { dir: d, built } = await fresh();
      await Deno.remove(blobFile(d, built.configDigest));
      await assertRefused(store, `oci:${d}`, "missing-blob", before);
    });
    await t.step(
      "layer digest mismatch (same size, one byte changed) after layers were applied",
      async () => {
        const { dir: d, built } = await fresh();
        const path = blobFile(d, built.layers[2].digest);
        const bytes = await Deno.readFile(path);
        bytes[bytes.length - 5] ^= 0xff; // inside the gzip trailer: the tar still reads
        await Deno.writeFile(path, bytes);
        await assertRefused(store, `oci:${d}`, "digest-mismatch", before);
      },
    );
    await t.step("manifest digest mismatch", async () => {
      const { dir: d } = await fresh();
      const index = await readJSON(join(d, "index.json"));
      const entry = (index.manifests as Record<string, unknown>[])[0];
      const path = blobFile(d, entry.digest as string);
      const text = (await Deno.readTextFile(path)).replace(
        '"schemaVersion":2',
        '"schemaVersion": 2',
      );
      await Deno.writeTextFile(path, text);
      entry.size = text.length;
      await writeJSON(join(d, "index.json"), index);
      await assertRefused(store, `oci:${d}`, "digest-mismatch", before);
    });
    await t.step("unknown layer media type", async () => {
      const { dir: d } = await fresh();
      await editManifest(d, (m) => {
        (m.layers as Record<string, unknown>[])[1].mediaType = "application/vnd.example.blob";
      });
      await assertRefused(store, `oci:${d}`, "media-type", before);
    });
    await t.step("unknown manifest media type", async () => {
      const { dir: d } = await fresh();
      const index = await readJSON(join(d, "index.json"));
      (index.manifests as Record<string, unknown>[])[0].mediaType = "application/x-unknown";
      await writeJSON(join(d, "index.json"), index);
      await assertRefused(store, `oci:${d}`, "media-type", before);
    });
    await t.step("DiffID in the config does not match the layer", async () => {
      const { dir: d, built } = await fresh();
      const config = await readJSON(blobFile(d, built.configDigest));
      const rootfs = config.rootfs as { diff_ids: string[] };
      rootfs.diff_ids[2] = `sha256:${"e".repeat(64)}`;
      const bytes = new TextEncoder().encode(JSON.stringify(config));
      const digest = sha256Digest(bytes);
      await Deno.writeFile(blobFile(d, digest), bytes);
      await editManifest(d, (m) => {
        m.config = {
          mediaType: "application/vnd.oci.image.config.v1+json",
          digest,
          size: bytes.length,
        };
      });
      await assertRefused(store, `oci:${d}`, "diff-id-mismatch", before);
    });
    await t.step("an index with no image for the platform", async () => {
      const { dir: d } = await fresh();
      const index = await readJSON(join(d, "index.json"));
      const list = {
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: (index.manifests as Record<string, unknown>[]).map((m) => ({
          mediaType: m.mediaType,
          digest: m.digest,
          size: m.size,
          platform: { os: "linux", architecture: "riscv64" },
        })),
      };
      const bytes = new TextEncoder().encode(JSON.stringify(list));
      const digest = sha256Digest(bytes);
      await Deno.writeFile(blobFile(d, digest), bytes);
      await writeJSON(join(d, "index.json"), {
        schemaVersion: 2,
        manifests: [{ mediaType: list.mediaType, digest, size: bytes.length }],
      });
      await assertRefused(store, `oci:${d}`, "no-platform", before);
      // The platform it has can be asked for.
      await assertRefused(store, `oci:${d}`, "no-platform", before, { platform: "linux/arm64" });
      const r = await importImage(store, `oci:${d}`, { platform: parsePlatform("linux/riscv64") });
      assert.ok(r.image.bigDataNames.includes(`manifest-${digest}`));
      assert.equal(r.image.digest, digest);
      await store.deleteImage(r.image.id);
    });
    await t.step("several images and no ref; unknown ref; not a layout", async () => {
      const { dir: d } = await fresh();
      await buildSampleImage(d, [BASE], { ref: "second" });
      await assertRefused(store, `oci:${d}`, "ambiguous", before);
      await assertRefused(store, `oci:${d}:nope`, "not-found", before);
      await assertRefused(store, `oci:${join(dir, "nowhere")}`, "not-found", before);
      await assertRefused(store, `oci-archive:${join(d, "index.json")}`, "bad-json", before);
    });
  });
});

Deno.test("an aborted import is rolled back like a failed one", async () => {
  await withStore(async (store, dir) => {
    const built = await buildSampleImage(join(dir, "layout"), [BASE, TOP]);
    const ac = new AbortController();
    await assert.rejects(
      importImage(store, built.location, {
        names: ["x"],
        signal: ac.signal,
        onProgress: (e) => {
          if (e.kind === "layer" && e.index === 1) ac.abort(new Error("stop here"));
        },
      }),
      /stop here/,
    );
    assert.deepEqual(await store.layers(), []);
    assert.deepEqual(await store.images(), []);
  });
});

Deno.test("cstor import / export commands: plain output when not a terminal, --json, errors", async () => {
  const t = await tempStore();
  try {
    const layout = join(t.dir, "layout");
    const built = await buildSampleImage(layout, [BASE, TOP], { ref: "v1" });
    const id = built.configDigest.slice(7);
    const r = await cli([...t.flags, "import", `oci:${layout}:v1`, "localhost/c:1", "c2"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${id}\n\tlocalhost/c:1\n\tdocker.io/library/c2:latest\n`);
    assert.equal(r.stderr, "");
    const j = await cli([...t.flags, "import", "--json", `oci:${layout}:v1`]);
    assert.equal(j.code, 0, j.stderr);
    const result = JSON.parse(j.stdout);
    assert.equal(result.image.id, id);
    assert.equal(result.created, false);
    assert.deepEqual(result.layers.map((l: { reused: boolean }) => l.reused), [true, true]);
    const out = join(t.dir, "out");
    const e = await cli([...t.flags, "export", "-q", "localhost/c:1", `oci:${out}`]);
    assert.equal(e.code, 0, e.stderr);
    assert.equal(e.stdout, `${built.manifestDigest}\n`);
    const ej = await cli([
      ...t.flags,
      "export",
      "--json",
      id,
      `oci-archive:${join(t.dir, "o.tar")}`,
    ]);
    assert.equal(JSON.parse(ej.stdout).manifestDigest, built.manifestDigest);
    const bad = await cli([...t.flags, "import", `oci:${join(t.dir, "nope")}`]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /no such file or directory/);
    const unknown = await cli([...t.flags, "export", "nope", `oci:${out}`]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /image not known/);
  } finally {
    await t.cleanup();
  }
});

Deno.test("progress line", () => {
  let now = 0;
  const line = new ProgressLine("Importing", () => now);
  line.update({ kind: "start", layers: 2, bytes: 3 * 1024 * 1024 });
  line.update({ kind: "layer", index: 0, digest: "d", size: 1024 * 1024, reused: true });
  line.update({ kind: "layer-done", index: 0 });
  line.update({ kind: "layer", index: 1, digest: "e", size: 2 * 1024 * 1024, reused: false });
  line.update({ kind: "bytes", count: 1024 * 1024 });
  now = 2000;
  assert.equal(
    line.text(),
    "Importing: layers 1/2 (1 already present), 1.0 MiB / 2.0 MiB, 512.0 KiB/s",
  );
});
