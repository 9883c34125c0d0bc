/**
 * An image to import, whatever it came from: its manifest, config and
 * layer blobs, all read and checked up front except the layer contents,
 * which stream (and are checked) while they are applied.
 *
 * @module
 */

import type { ImageConfigInfo, ImageManifest, Platform } from "./manifest.ts";
import type { TransportRef } from "./transport_ref.ts";
import { directoryFiles } from "./layout_files.ts";
import { tarFiles } from "./tar_files.ts";
import { openOciSource } from "./oci_source.ts";
import { openDockerArchiveSource } from "./docker_archive_source.ts";
import { ImageInputError } from "./errors.ts";
import { isNotFound } from "../errors.ts";

/** A JSON document with its bytes and digest. */
export interface Document<T> {
  /** The document exactly as stored. */
  bytes: Uint8Array;
  /** Its digest. */
  digest: string;
  /** Its parsed form. */
  parsed: T;
}

/** One image, ready to be stored. */
export interface ImageSource {
  /** Where it comes from, for messages. */
  readonly description: string;
  /** The index / manifest list the image was chosen from, if any. */
  readonly index?: { bytes: Uint8Array; digest: string };
  /** The image's manifest. */
  readonly manifest: Document<ImageManifest>;
  /** The image's config. */
  readonly config: Document<ImageConfigInfo>;
  /** Names the source carries (docker-archive `RepoTags`), used when the caller gives none. */
  readonly suggestedNames: string[];
  /** Layer `i`'s blob exactly as `manifest.parsed.layers[i]` describes it (not yet checked). */
  openLayer(i: number): Promise<ReadableStream<Uint8Array>>;
  /** Releases temporary files. */
  close(): Promise<void>;
}

/** Options for {@link openSource}. */
export interface OpenSourceOptions {
  /** The platform to choose from an index (default: this machine's). */
  platform?: Platform;
}

/** Opens an image location for reading. */
export async function openSource(
  ref: TransportRef,
  options: OpenSourceOptions = {},
): Promise<ImageSource> {
  await checkExists(ref);
  const files = ref.transport === "oci" ? directoryFiles(ref.path) : await tarFiles(ref.path);
  try {
    if (ref.transport === "docker-archive") return await openDockerArchiveSource(files, ref.ref);
    return await openOciSource(files, ref.ref, options.platform);
  } catch (err) {
    await files.close();
    throw err;
  }
}

async function checkExists(ref: TransportRef): Promise<void> {
  try {
    const info = await Deno.stat(ref.path);
    const wantDir = ref.transport === "oci";
    if (info.isDirectory !== wantDir) {
      throw new ImageInputError(
        "not-found",
        `${ref.path} is not ${wantDir ? "a directory" : "a file"} (${ref.transport}:)`,
      );
    }
  } catch (err) {
    if (isNotFound(err)) {
      throw new ImageInputError("not-found", `${ref.path}: no such file or directory`);
    }
    throw err;
  }
}
