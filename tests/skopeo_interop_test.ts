/**
 * cstor and skopeo on the same stores: an image imported by each is stored
 * identically (records, big data, layers), skopeo's images are listed,
 * mounted and exported by cstor with their original blobs, and cstor's are
 * read back by skopeo with the same digests.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { cli, run, type TempStore, tempStore, testIf } from "./helpers.ts";
import { Compression, decompress } from "../src/archive/compression.ts";
import { sha256Digest } from "../src/image_io/blob_check.ts";
import { hostPlatform } from "../src/image_io/platform.ts";
import { buildSampleImage, type SampleLayer } from "../demo/sample_image.ts";
import type { BuiltImage } from "../demo/oci_build.ts";

function haveSkopeo(): boolean {
  try {
    return new Deno.Command("skopeo", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

const SKOPEO = haveSkopeo();
const NO_SKOPEO = "skopeo is not installed";

const LAYERS: SampleLayer[] = [
  { files: { "/etc/os-release": "NAME=interop\n", "/usr/lib/x": "x".repeat(5000) } },
  { files: { "/srv/data.txt": "data\n" }, compression: Compression.none },
  { files: { "/srv/more.txt": "more\n" } },
];

async function skopeo(args: string[]): Promise<void> {
  const r = await run("skopeo", ["--insecure-policy", ...args]);
  assert.equal(r.code, 0, `skopeo ${args.join(" ")}: ${r.stderr}`);
}

function storeRef(t: TempStore, name: string): string {
  return `containers-storage:[vfs@${t.graph}+${t.run}]${name}`;
}

async function readJSONFile(path: string): Promise<unknown> {
  return JSON.parse(await Deno.readTextFile(path));
}

/** Every file of a big-data directory, name → bytes (hex digest for short messages). */
async function dirDigests(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const e of Deno.readDir(dir)) {
    out[e.name] = createHash("sha256").update(await Deno.readFile(join(dir, e.name))).digest("hex");
  }
  return out;
}

/** Compares what two stores hold, record by record (layer creation times aside). */
async function assertSameStores(a: TempStore, b: TempStore): Promise<void> {
  const layersA = (await readJSONFile(join(a.graph, "vfs-layers", "layers.json"))) as Record<
    string,
    unknown
  >[];
  const layersB = (await readJSONFile(join(b.graph, "vfs-layers", "layers.json"))) as Record<
    string,
    unknown
  >[];
  assert.ok(layersA.length >= 3, "skopeo stored the layers");
  const noTime = (l: Record<string, unknown>) => ({ ...l, created: undefined });
  assert.deepEqual(layersB.map(noTime), layersA.map(noTime));
  for (const l of layersA) {
    const split = async (t: TempStore) =>
      await new Response(
        (await Deno.open(join(t.graph, "vfs-layers", `${l.id}.tar-split.gz`))).readable
          .pipeThrough(new DecompressionStream("gzip")),
      ).text();
    assert.equal(await split(b), await split(a), `tar-split of ${l.id}`);
  }
  const imagesA = await readJSONFile(join(a.graph, "vfs-images", "images.json"));
  const imagesB = await readJSONFile(join(b.graph, "vfs-images", "images.json"));
  assert.equal((imagesA as unknown[]).length, 1);
  assert.deepEqual(imagesB, imagesA);
  for (const image of imagesA as { id: string }[]) {
    assert.deepEqual(
      await dirDigests(join(b.graph, "vfs-images", image.id)),
      await dirDigests(join(a.graph, "vfs-images", image.id)),
      `big data of ${image.id}`,
    );
  }
}

/** Imports `source` with skopeo into one store and with cstor into another, and compares. */
async function compareImports(source: string, name: string): Promise<void> {
  const bySkopeo = await tempStore();
  const byCstor = await tempStore();
  try {
    await skopeo(["copy", "-q", source, storeRef(bySkopeo, name)]);
    const r = await cli([...byCstor.flags, "import", source, name]);
    assert.equal(r.code, 0, r.stderr);
    await assertSameStores(bySkopeo, byCstor);
  } finally {
    await bySkopeo.cleanup();
    await byCstor.cleanup();
  }
}

/** Adds a two-platform index (this machine's and another) over `built` to the layout at `dir`. */
async function addIndex(dir: string, built: BuiltImage, ref: string): Promise<void> {
  const p = hostPlatform();
  const manifestBytes = await Deno.readFile(
    join(dir, "blobs", "sha256", built.manifestDigest.slice(7)),
  );
  const index = new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [
      { os: "linux", architecture: "s390x" },
      { os: p.os, architecture: p.architecture },
    ].map((platform) => ({
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: built.manifestDigest,
      size: manifestBytes.length,
      platform,
    })),
  }));
  const digest = sha256Digest(index);
  await Deno.writeFile(join(dir, "blobs", "sha256", digest.slice(7)), index);
  const top = JSON.parse(await Deno.readTextFile(join(dir, "index.json")));
  top.manifests.push({
    mediaType: "application/vnd.oci.image.index.v1+json",
    digest,
    size: index.length,
    annotations: { "org.opencontainers.image.ref.name": ref },
  });
  await Deno.writeTextFile(join(dir, "index.json"), JSON.stringify(top));
}

testIf(SKOPEO, NO_SKOPEO, "skopeo and cstor store the same image the same way", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "cstor-interop-" });
  try {
    const layout = join(dir, "layout");
    const built = await buildSampleImage(layout, LAYERS, {
      ref: "v1",
      created: "2024-05-06T07:08:09.123Z",
    });
    await t.step("oci: layout", () => compareImports(`oci:${layout}:v1`, "localhost/same:v1"));
    await t.step("docker-archive: made by skopeo", async () => {
      const archive = join(dir, "d.tar");
      await skopeo(["copy", "-q", `oci:${layout}:v1`, `docker-archive:${archive}:example.com/d:1`]);
      await compareImports(`docker-archive:${archive}`, "d");
    });
    await t.step("oci-archive: made by skopeo", async () => {
      const archive = join(dir, "o.tar");
      await skopeo(["copy", "-q", `oci:${layout}:v1`, `oci-archive:${archive}:v1`]);
      await compareImports(`oci-archive:${archive}:v1`, "quay.io/o/o:2");
    });
    await t.step(
      "an index: the platform's image, the index kept as a manifest-<digest> item",
      async () => {
        await addIndex(layout, built, "multi");
        await compareImports(`oci:${layout}:multi`, "multi");
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

testIf(
  SKOPEO,
  NO_SKOPEO,
  "skopeo → store → cstor: list, mount, export the original blobs",
  async () => {
    const t = await tempStore();
    try {
      const layout = join(t.dir, "layout");
      const built = await buildSampleImage(layout, LAYERS, { ref: "v1" });
      await skopeo(["copy", "-q", `oci:${layout}:v1`, storeRef(t, "localhost/from-skopeo:1")]);
      const id = built.configDigest.slice(7);

      const images = await cli([...t.flags, "images"]);
      assert.match(images.stdout, new RegExp(`^${id}\n\tname: localhost/from-skopeo:1\n`));
      const layers = await cli([...t.flags, "layers", "--json"]);
      assert.equal(JSON.parse(layers.stdout).length, 3);

      const c = await cli([
        ...t.flags,
        "create-container",
        "--name",
        "box",
        "localhost/from-skopeo:1",
      ]);
      assert.equal(c.code, 0, c.stderr);
      const m = await cli([...t.flags, "mount", "box"]);
      assert.equal(m.code, 0, m.stderr);
      const root = m.stdout.trim();
      assert.equal(await Deno.readTextFile(join(root, "srv", "data.txt")), "data\n");
      assert.equal(await Deno.readTextFile(join(root, "etc", "os-release")), "NAME=interop\n");
      assert.equal((await cli([...t.flags, "unmount", "box"])).code, 0);
      assert.equal((await cli([...t.flags, "delete-container", "box"])).code, 0);

      const out = join(t.dir, "out");
      const e = await cli([
        ...t.flags,
        "export",
        "--json",
        "localhost/from-skopeo:1",
        `oci:${out}:v1`,
      ]);
      assert.equal(e.code, 0, e.stderr);
      const result = JSON.parse(e.stdout);
      assert.equal(result.manifestDigest, built.manifestDigest);
      assert.equal(result.configDigest, built.configDigest);
      assert.deepEqual(
        result.layers.map((l: { digest: string }) => l.digest),
        built.layers.map((l) => l.digest),
      );
      for (
        const d of [built.manifestDigest, built.configDigest, ...built.layers.map((l) => l.digest)]
      ) {
        const bytes = await Deno.readFile(join(out, "blobs", "sha256", d.slice(7)));
        assert.equal(sha256Digest(bytes), d);
      }
      // And skopeo reads cstor's export.
      await skopeo(["copy", "-q", `oci:${out}:v1`, `oci:${join(t.dir, "again")}:v1`]);
    } finally {
      await t.cleanup();
    }
  },
);

testIf(
  SKOPEO,
  NO_SKOPEO,
  "cstor → store → skopeo: skopeo copies the image out with the same digests",
  async () => {
    const t = await tempStore();
    try {
      const layout = join(t.dir, "layout");
      const built = await buildSampleImage(layout, LAYERS, { ref: "v1" });
      const r = await cli([...t.flags, "import", `oci:${layout}:v1`, "localhost/from-cstor:1"]);
      assert.equal(r.code, 0, r.stderr);

      const raw = await run("skopeo", ["inspect", "--raw", storeRef(t, "localhost/from-cstor:1")]);
      assert.equal(raw.code, 0, raw.stderr);
      assert.equal(sha256Digest(raw.bytes), built.manifestDigest);

      const out = join(t.dir, "out");
      await skopeo(["copy", "-q", storeRef(t, "localhost/from-cstor:1"), `oci:${out}:x`]);
      const index = JSON.parse(await Deno.readTextFile(join(out, "index.json")));
      const blob = (d: string) => join(out, "blobs", "sha256", d.slice(7));
      const manifest = JSON.parse(await Deno.readTextFile(blob(index.manifests[0].digest)));
      assert.equal(manifest.config.digest, built.configDigest);
      // skopeo recompresses what a store gives it; the contents are the same.
      const diffIDs: string[] = [];
      for (const l of manifest.layers as { digest: string; mediaType: string }[]) {
        let stream: ReadableStream<Uint8Array> = (await Deno.open(blob(l.digest))).readable;
        if (l.mediaType.endsWith("+gzip")) stream = decompress(stream, Compression.gzip);
        diffIDs.push(sha256Digest(await new Response(stream).bytes()));
      }
      assert.deepEqual(diffIDs, built.layers.map((l) => l.diffID));
    } finally {
      await t.cleanup();
    }
  },
);
