/**
 * Writing an OCI image layout directory: `oci-layout`, `blobs/<alg>/<hex>`
 * and `index.json`. Blobs are written to a temporary name and renamed into
 * place once complete, and `index.json` is replaced atomically last, so an
 * interrupted export never leaves a layout that names a half-written blob.
 * An existing layout is added to (as skopeo does): other images stay, an
 * image with the same ref name is replaced.
 *
 * @module
 */

import { join } from "node:path";
import { createHash } from "node:crypto";
import { isNotFound } from "../errors.ts";
import { blobPath } from "./layout_files.ts";
import { type Descriptor, parseManifest } from "./manifest.ts";
import { MediaType } from "./media_types.ts";
import { REF_NAME_ANNOTATION } from "./oci_source.ts";
import { ImageInputError } from "./errors.ts";

const encoder = new TextEncoder();

/** The `oci-layout` file's contents. */
export const OCI_LAYOUT_FILE = '{"imageLayoutVersion": "1.0.0"}';

/** A blob as written: its digest and size. */
export interface WrittenBlob {
  /** `sha256:<hex>`. */
  digest: string;
  /** Byte length. */
  size: number;
}

/** Writes into the OCI layout at `root`. */
export class OciLayoutWriter {
  /** The layout's directory. */
  readonly root: string;

  /** Writes into the layout at `root` (created by {@link prepare}). */
  constructor(root: string) {
    this.root = root;
  }

  /** Creates the directories and the `oci-layout` file (an existing layout is kept). */
  async prepare(): Promise<void> {
    await Deno.mkdir(join(this.root, "blobs", "sha256"), { recursive: true });
    const marker = join(this.root, "oci-layout");
    try {
      await Deno.stat(marker);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await Deno.writeTextFile(marker, OCI_LAYOUT_FILE);
    }
  }

  /** True when the layout already holds a blob with this digest and size. */
  async hasBlob(digest: string, size: number): Promise<boolean> {
    try {
      const info = await Deno.stat(join(this.root, blobPath(digest)));
      return info.isFile && info.size === size;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /** Writes a blob from a stream, hashing it on the way (SHA-256). */
  async writeBlob(stream: ReadableStream<Uint8Array>): Promise<WrittenBlob> {
    const dir = join(this.root, "blobs", "sha256");
    const temp = await Deno.makeTempFile({ dir, prefix: ".tmp-blob-" });
    try {
      const hash = createHash("sha256");
      let size = 0;
      const file = await Deno.open(temp, { write: true, truncate: true });
      try {
        for await (const chunk of stream) {
          hash.update(chunk);
          size += chunk.length;
          let off = 0;
          while (off < chunk.length) off += await file.write(chunk.subarray(off));
        }
        await file.sync();
      } finally {
        file.close();
      }
      const hex = hash.digest("hex");
      await Deno.chmod(temp, 0o644);
      await Deno.rename(temp, join(dir, hex));
      return { digest: `sha256:${hex}`, size };
    } catch (err) {
      await Deno.remove(temp).catch(() => {});
      throw err;
    }
  }

  /** Writes a small blob given whole. */
  async writeBlobBytes(bytes: Uint8Array): Promise<WrittenBlob> {
    return await this.writeBlob(ReadableStream.from([bytes]));
  }

  /**
   * Adds `manifest` to `index.json` under `ref` (an
   * `org.opencontainers.image.ref.name` annotation; none when empty),
   * replacing an entry with the same ref name, or with the same digest
   * and no name.
   */
  async addToIndex(manifest: Descriptor, ref: string): Promise<void> {
    const path = join(this.root, "index.json");
    let entries: Record<string, unknown>[] = [];
    let doc: Record<string, unknown> = { schemaVersion: 2 };
    try {
      const bytes = await Deno.readFile(path);
      parseManifest(bytes, MediaType.ociIndex, path); // refuses a broken index
      doc = JSON.parse(new TextDecoder().decode(bytes));
      entries = doc.manifests as Record<string, unknown>[];
    } catch (err) {
      if (!isNotFound(err)) {
        if (err instanceof ImageInputError) throw err;
        throw new ImageInputError("bad-json", `${path}: ${(err as Error).message}`);
      }
    }
    const nameOf = (e: Record<string, unknown>) =>
      (e.annotations as Record<string, string> | undefined)?.[REF_NAME_ANNOTATION];
    entries = entries.filter((e) =>
      ref !== "" ? nameOf(e) !== ref : !(nameOf(e) === undefined && e.digest === manifest.digest)
    );
    const entry: Record<string, unknown> = {
      mediaType: manifest.mediaType,
      digest: manifest.digest,
      size: manifest.size,
    };
    if (ref !== "") entry.annotations = { [REF_NAME_ANNOTATION]: ref };
    entries.push(entry);
    doc.manifests = entries;
    const temp = await Deno.makeTempFile({ dir: this.root, prefix: ".tmp-index-" });
    try {
      await Deno.writeFile(temp, encoder.encode(JSON.stringify(doc)));
      await Deno.chmod(temp, 0o644);
      await Deno.rename(temp, path);
    } catch (err) {
      await Deno.remove(temp).catch(() => {});
      throw err;
    }
  }
}
