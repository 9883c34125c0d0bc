/**
 * Small sample images for the demo and the tests: layers of text files
 * (and optionally host programs), written as an OCI layout or a docker
 * archive. Everything is made locally, deterministically.
 *
 * @module
 */

import { Compression, type CompressionKind } from "../src/archive/compression.ts";
import { tarStream } from "../src/archive/tar_writer.ts";
import { TYPE } from "../src/archive/tar_types.ts";
import { sha256Digest } from "../src/image_io/blob_check.ts";
import { hostPlatform } from "../src/image_io/platform.ts";
import { addTextFile, programTree, type Tree, treeTar } from "./host_files.ts";
import { type BuiltImage, writeOciImage } from "./oci_build.ts";

/** One layer of a sample image. */
export interface SampleLayer {
  /** Text files: absolute path inside the image → contents. */
  files?: Record<string, string>;
  /** Host programs to copy in, with their libraries. */
  programs?: string[];
  /** Default gzip. */
  compression?: CompressionKind;
}

/** The tar of one sample layer. */
export async function sampleLayerTar(layer: SampleLayer): Promise<Uint8Array> {
  const tree: Tree = layer.programs ? await programTree(layer.programs) : new Map();
  for (const [path, text] of Object.entries(layer.files ?? {})) addTextFile(tree, path, text);
  return await treeTar(tree);
}

/** Writes a sample image as an OCI layout at `dir` (added to an existing layout). */
export async function buildSampleImage(
  dir: string,
  layers: SampleLayer[],
  options: { ref?: string; runConfig?: Record<string, unknown>; created?: string } = {},
): Promise<BuiltImage> {
  const inputs = [];
  for (const l of layers) {
    inputs.push({ tar: await sampleLayerTar(l), compression: l.compression ?? Compression.gzip });
  }
  return await writeOciImage(dir, { layers: inputs, ...options });
}

/** What {@link writeDockerArchive} wrote. */
export interface DockerArchive {
  /** Digest of the config. */
  configDigest: string;
  /** DiffIDs of the layers. */
  diffIDs: string[];
}

/** Writes a `docker save`-style archive with one image of plain tar layers. */
export async function writeDockerArchive(
  path: string,
  layers: SampleLayer[],
  repoTags: string[],
): Promise<DockerArchive> {
  const tars = [];
  for (const l of layers) tars.push(await sampleLayerTar(l));
  const diffIDs = tars.map(sha256Digest);
  const p = hostPlatform();
  const config = new TextEncoder().encode(JSON.stringify({
    created: "2024-02-03T04:05:06.5Z",
    architecture: p.architecture,
    os: p.os,
    config: {},
    rootfs: { type: "layers", diff_ids: diffIDs },
  }));
  const configDigest = sha256Digest(config);
  const hex = (d: string) => d.slice(7);
  const manifest = new TextEncoder().encode(JSON.stringify([{
    Config: `${hex(configDigest)}.json`,
    RepoTags: repoTags,
    Layers: diffIDs.map((d) => `${hex(d)}/layer.tar`),
  }]));
  const files: [string, Uint8Array][] = [
    [`${hex(configDigest)}.json`, config],
    ...tars.map((t, i): [string, Uint8Array] => [`${hex(diffIDs[i])}/layer.tar`, t]),
    ["manifest.json", manifest],
  ];
  const stream = tarStream(async (tw) => {
    for (const [name, data] of files) {
      const slash = name.indexOf("/");
      if (slash > 0) {
        await tw.writeHeader({ name: name.slice(0, slash + 1), type: TYPE.dir, mode: 0o755 });
      }
      await tw.writeEntry({ name, type: TYPE.file, mode: 0o644, size: data.length }, data);
    }
  });
  await Deno.writeFile(path, new Uint8Array(await new Response(stream).arrayBuffer()));
  return { configDigest, diffIDs };
}
