/**
 * Reading an image from an OCI image layout (a directory, or the same
 * files in a tar archive): `index.json` names the images, `blobs/` holds
 * everything by digest. Every JSON document is checked against its
 * descriptor's digest and size; layer blobs are looked up (present, right
 * size) before anything is stored, and their digests checked as they stream.
 *
 * @module
 */

import type {
  Descriptor,
  ImageConfigInfo,
  ImageIndex,
  ImageManifest,
  Platform,
} from "./manifest.ts";
import { parseConfig, parseManifest } from "./manifest.ts";
import { blobPath, type LayoutFiles } from "./layout_files.ts";
import { verifyBytes } from "./blob_check.ts";
import { ImageInputError } from "./errors.ts";
import { chooseInstance, hostPlatform } from "./platform.ts";
import type { Document, ImageSource } from "./source.ts";
import { MediaType } from "./media_types.ts";

/** The annotation an OCI layout's `index.json` names images with. */
export const REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name";

/** Indexes nested deeper than this are refused (a loop would never end). */
const MAX_NESTING = 4;

/** Reads and checks the blob a descriptor points at. */
export async function readBlob(
  files: LayoutFiles,
  d: Descriptor,
  what: string,
): Promise<Uint8Array> {
  const bytes = await files.read(blobPath(d.digest));
  if (bytes === undefined) {
    throw new ImageInputError(
      "missing-blob",
      `${what}: blob ${d.digest} is missing from ${files.origin}`,
    );
  }
  verifyBytes(bytes, d, what);
  return bytes;
}

/** Reads `index.json`. */
export async function readLayoutIndex(files: LayoutFiles): Promise<ImageIndex> {
  const bytes = await files.read("index.json");
  if (bytes === undefined) {
    throw new ImageInputError(
      "not-found",
      `${files.origin}: no index.json (not an OCI image layout)`,
    );
  }
  const parsed = parseManifest(bytes, MediaType.ociIndex, `${files.origin}/index.json`);
  if (parsed.kind !== "index") {
    throw new ImageInputError("bad-json", `${files.origin}/index.json is not an image index`);
  }
  return parsed;
}

/** The `index.json` entry `ref` names (or the only one). */
function pickEntry(index: ImageIndex, ref: string, origin: string): Descriptor {
  if (ref !== "") {
    const found = index.manifests.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] === ref);
    if (found.length === 0) {
      throw new ImageInputError("not-found", `${origin}: no image named ${JSON.stringify(ref)}`);
    }
    if (found.length > 1) {
      throw new ImageInputError(
        "ambiguous",
        `${origin}: more than one image named ${JSON.stringify(ref)}`,
      );
    }
    return found[0];
  }
  if (index.manifests.length === 1) return index.manifests[0];
  if (index.manifests.length === 0) throw new ImageInputError("not-found", `${origin}: no images`);
  const names = index.manifests.map((d) => d.annotations?.[REF_NAME_ANNOTATION]).filter(Boolean);
  throw new ImageInputError(
    "ambiguous",
    `${origin}: more than one image; choose one with :REF (${names.join(", ") || "none is named"})`,
  );
}

/** Opens the image `ref` names in an OCI layout. */
export async function openOciSource(
  files: LayoutFiles,
  ref: string,
  platform: Platform | undefined,
): Promise<ImageSource> {
  const origin = files.origin;
  const layoutIndex = await readLayoutIndex(files);
  let desc = pickEntry(layoutIndex, ref, origin);
  let topIndex: { bytes: Uint8Array; digest: string } | undefined;
  let manifest: Document<ImageManifest> | undefined;
  for (let depth = 0; manifest === undefined; depth++) {
    if (depth > MAX_NESTING) {
      throw new ImageInputError("bad-json", `${origin}: indexes nested too deeply`);
    }
    const what = `manifest ${desc.digest}`;
    const bytes = await readBlob(files, desc, what);
    const parsed = parseManifest(bytes, desc.mediaType, what);
    if (parsed.kind === "index") {
      topIndex ??= { bytes, digest: desc.digest };
      desc = chooseInstance(parsed, platform ?? hostPlatform(), `index ${desc.digest}`);
    } else {
      manifest = { bytes, digest: desc.digest, parsed };
    }
  }
  const m = manifest.parsed;
  const configBytes = await readBlob(files, m.config, "config");
  const config: Document<ImageConfigInfo> = {
    bytes: configBytes,
    digest: m.config.digest,
    parsed: parseConfig(configBytes, `config ${m.config.digest}`),
  };
  if (config.parsed.diffIDs.length !== m.layers.length) {
    throw new ImageInputError(
      "bad-json",
      `config ${m.config.digest} lists ${config.parsed.diffIDs.length} diff_ids for ${m.layers.length} layers`,
    );
  }
  // Look every layer up before anything is stored, so a missing or
  // truncated blob fails the import before it has created any layer.
  for (const [i, d] of m.layers.entries()) {
    const size = await files.size(blobPath(d.digest));
    if (size === undefined) {
      throw new ImageInputError(
        "missing-blob",
        `layer ${i + 1}: blob ${d.digest} is missing from ${origin}`,
      );
    }
    if (size !== d.size) {
      throw new ImageInputError(
        "size-mismatch",
        `layer ${i + 1}: blob ${d.digest} has ${size} bytes, the manifest says ${d.size}`,
      );
    }
  }
  return {
    description: origin,
    index: topIndex,
    manifest,
    config,
    suggestedNames: [],
    async openLayer(i) {
      const stream = await files.open(blobPath(m.layers[i].digest));
      if (stream === undefined) {
        throw new ImageInputError(
          "missing-blob",
          `layer ${i + 1}: blob ${m.layers[i].digest} is missing`,
        );
      }
      return stream;
    },
    close: () => files.close(),
  };
}
