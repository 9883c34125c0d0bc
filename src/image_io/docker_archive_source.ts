/**
 * Reading an image from a `docker save` / `docker-archive:` tar: its
 * `manifest.json` lists, per image, the config file, the layer files and
 * the repository tags. There is no manifest in the registry sense, so one
 * is made the way c/image makes it: Docker schema 2, each layer described
 * by its DiffID and uncompressed size (layer files compressed in the
 * archive are decompressed while read), the config by its SHA-256. Storing
 * the same archive with skopeo gives byte-identical manifest bytes.
 *
 * @module
 */

import {
  Compression,
  type CompressionKind,
  decompress,
  detectCompression,
} from "../archive/compression.ts";
import { sha256Digest } from "./blob_check.ts";
import { ImageInputError } from "./errors.ts";
import { type Descriptor, type ImageManifest, parseConfig } from "./manifest.ts";
import { MediaType } from "./media_types.ts";
import type { LayoutFiles } from "./layout_files.ts";
import type { ImageSource } from "./source.ts";
import { normalizeImageName } from "./image_name.ts";

interface ArchiveEntry {
  config: string;
  repoTags: string[];
  layers: string[];
}

function parseArchiveManifest(bytes: Uint8Array, origin: string): ArchiveEntry[] {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new ImageInputError("bad-json", `${origin}/manifest.json: ${(err as Error).message}`);
  }
  if (!Array.isArray(doc)) {
    throw new ImageInputError("bad-json", `${origin}/manifest.json is not a JSON array`);
  }
  return doc.map((e, i) => {
    const what = `${origin}/manifest.json[${i}]`;
    if (
      typeof e !== "object" || e === null || typeof e.Config !== "string" ||
      !Array.isArray(e.Layers)
    ) {
      throw new ImageInputError("bad-json", `${what}: needs Config and Layers`);
    }
    const layers = e.Layers as unknown[];
    const tags = Array.isArray(e.RepoTags) ? e.RepoTags as unknown[] : [];
    if (!layers.every((l) => typeof l === "string") || !tags.every((t) => typeof t === "string")) {
      throw new ImageInputError("bad-json", `${what}: Layers and RepoTags must hold strings`);
    }
    return { config: e.Config, repoTags: tags as string[], layers: layers as string[] };
  });
}

function pickEntry(entries: ArchiveEntry[], ref: string, origin: string): ArchiveEntry {
  if (ref.startsWith("@")) {
    const n = Number(ref.slice(1));
    if (!Number.isInteger(n) || n < 0 || n >= entries.length) {
      throw new ImageInputError(
        "not-found",
        `${origin}: no image ${ref} (it holds ${entries.length})`,
      );
    }
    return entries[n];
  }
  if (ref !== "") {
    const want = normalizeImageName(ref);
    const found = entries.find((e) =>
      e.repoTags.some((t) => {
        try {
          return normalizeImageName(t) === want;
        } catch {
          return false;
        }
      })
    );
    if (found === undefined) {
      throw new ImageInputError("not-found", `${origin}: no image tagged ${want}`);
    }
    return found;
  }
  if (entries.length === 1) return entries[0];
  if (entries.length === 0) throw new ImageInputError("not-found", `${origin}: no images`);
  throw new ImageInputError(
    "ambiguous",
    `${origin}: more than one image; choose one with :NAME or :@N`,
  );
}

/** Reads the first bytes of a stream and cancels it. */
async function sniff(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const reader = stream.getReader();
  try {
    const { value } = await reader.read();
    return value ?? new Uint8Array();
  } finally {
    await reader.cancel().catch(() => {});
  }
}

async function countBytes(stream: ReadableStream<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const chunk of stream) n += chunk.length;
  return n;
}

/** Opens the image `ref` names (a tag, `@N`, or empty for the only one) in a docker archive. */
export async function openDockerArchiveSource(
  files: LayoutFiles,
  ref: string,
): Promise<ImageSource> {
  const origin = files.origin;
  const list = await files.read("manifest.json");
  if (list === undefined) {
    throw new ImageInputError("not-found", `${origin}: no manifest.json (not a docker archive)`);
  }
  const entry = pickEntry(parseArchiveManifest(list, origin), ref, origin);
  const configBytes = await files.read(entry.config);
  if (configBytes === undefined) {
    throw new ImageInputError("missing-blob", `${origin}: config file ${entry.config} is missing`);
  }
  const configDigest = sha256Digest(configBytes);
  const config = parseConfig(configBytes, `config ${entry.config}`);
  if (config.diffIDs.length !== entry.layers.length) {
    throw new ImageInputError(
      "bad-json",
      `${origin}: config lists ${config.diffIDs.length} diff_ids for ${entry.layers.length} layers`,
    );
  }
  const open = async (i: number): Promise<ReadableStream<Uint8Array>> => {
    const s = await files.open(entry.layers[i]);
    if (s === undefined) {
      throw new ImageInputError(
        "missing-blob",
        `layer ${i + 1}: file ${entry.layers[i]} is missing from ${origin}`,
      );
    }
    return s;
  };
  const compressions: CompressionKind[] = [];
  const layers: Descriptor[] = [];
  for (const [i, diffID] of config.diffIDs.entries()) {
    const kind = detectCompression(await sniff(await open(i)));
    compressions.push(kind);
    const size = kind === Compression.none
      ? (await files.size(entry.layers[i]))!
      : await countBytes(decompress(await open(i), kind));
    layers.push({ mediaType: MediaType.dockerLayerGzip, size, digest: diffID });
  }
  const manifest: ImageManifest = {
    kind: "manifest",
    mediaType: MediaType.dockerManifest,
    config: { mediaType: MediaType.dockerConfig, size: configBytes.length, digest: configDigest },
    layers,
  };
  // Key order and compact form as Go's encoder writes c/image's Schema2 struct.
  const bytes = new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: manifest.mediaType,
    config: {
      mediaType: manifest.config.mediaType,
      size: manifest.config.size,
      digest: configDigest,
    },
    layers: layers.map((l) => ({ mediaType: l.mediaType, size: l.size, digest: l.digest })),
  }));
  return {
    description: origin,
    manifest: { bytes, digest: sha256Digest(bytes), parsed: manifest },
    config: { bytes: configBytes, digest: configDigest, parsed: config },
    suggestedNames: entry.repoTags,
    async openLayer(i) {
      const kind = compressions[i];
      return kind === Compression.none ? await open(i) : decompress(await open(i), kind);
    },
    close: () => files.close(),
  };
}
