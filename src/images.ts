/**
 * ImageStore: `images.json` and image big data (records.md §3, §7).
 *
 * Every method below the lock helpers expects the caller (src/store.ts) to
 * hold this store's lock: shared to read, exclusive to change.
 *
 * @module
 */

import { join } from "./path.ts";
import { CorruptStoreError, StorageError } from "./errors.ts";
import { checkBigDataKey, checkID, digestProblem, generateID } from "./ids.ts";
import { type LoadOutcome, type RecordLocation, RecordStore } from "./record_store.ts";
import { copyImage, type Image, imageFromJSON, imageToJSON } from "./records/image_record.ts";
import {
  type BigDataInfo,
  finishPendingWrite,
  missingItem,
  openBigData,
  pendingWrite,
  removeDataDir,
  statBigData,
  writeBigData,
  WRITING_FLAG,
} from "./big_data.ts";

/** The image metadata store of one graph root. */
export class ImageStore extends RecordStore<Image> {
  readonly kind = "image";
  /** `GR/<driver>-images` (or `S/<driver>-images`). */
  readonly dir: string;

  constructor(dir: string, readOnly: boolean) {
    if (!readOnly) Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    super(join(dir, "images.lock"), readOnly);
    this.dir = dir;
  }

  protected locations(): RecordLocation[] {
    return [{ path: join(this.dir, "images.json"), volatile: false }];
  }

  protected decode(raw: Record<string, unknown>, path: string, index: number): Image {
    const image = imageFromJSON(raw, path, index);
    image.readOnly = this.readOnly;
    return image;
  }

  protected encode(image: Image): Record<string, unknown> {
    return imageToJSON(image);
  }

  protected override afterLoad(): LoadOutcome {
    const path = this.locations()[0].path;
    for (const image of this.records) {
      try {
        recomputeDigests(image);
      } catch (err) {
        throw new CorruptStoreError(path, `image ${image.id}: ${(err as Error).message}`);
      }
    }
    const needsRepair = !this.readOnly && this.records.some((i) => pendingWrite(i) !== undefined);
    return { needsSave: false, needsRepair };
  }

  /** Finishes big-data writes of killed writers (see {@link WRITING_FLAG}). */
  protected override async repairLocked(): Promise<void> {
    for (const image of this.records) {
      if (pendingWrite(image) === undefined) continue;
      await finishPendingWrite(this.dataDir(image.id), image);
      recomputeDigests(image);
    }
  }

  protected override copy(image: Image): Image {
    return copyImage(image);
  }

  /** Images whose digest list contains `digest`. */
  byDigest(digest: string): Image[] {
    return this.records.filter((i) => i.digests.includes(digest)).map(copyImage);
  }

  /** A fresh ID not used by this store. */
  newID(): string {
    return generateID((id) => this.byID.has(id));
  }

  /** Adds a new image record and saves. */
  create(image: Image): Image {
    checkID(image.id);
    if (this.byID.has(image.id)) {
      throw new StorageError(
        "duplicate-id",
        `an image with ID ${JSON.stringify(image.id)} already exists`,
      );
    }
    image.names = [...new Set(image.names)];
    const taken = this.nameOwnerLocked(image.names);
    if (taken !== undefined) {
      throw new StorageError(
        "duplicate-name",
        `image name ${JSON.stringify(taken.name)} is already associated with image ${
          JSON.stringify(taken.owner.id)
        }`,
      );
    }
    if (image.digest !== "") {
      const problem = digestProblem(image.digest);
      if (problem !== undefined) {
        throw new StorageError("invalid-digest", undefined, {
          message: `validating digests for new image: validating image digest ${
            JSON.stringify(image.digest)
          }: ${problem}`,
        });
      }
    }
    recomputeDigests(image);
    this.addLocked(image);
    this.saveLocked(this.locations());
    return copyImage(image);
  }

  /** Adds an image record read from another store under the same ID (renaming a read-only image). */
  adopt(image: Image): Image {
    const copy = copyImage(image);
    copy.readOnly = false;
    this.addLocked(copy);
    return copy;
  }

  /** Replaces names (taking them from other images) and updates `names-history`. */
  setNames(image: Image, names: string[]): void {
    this.setNamesLocked(image, names);
    for (const name of [...new Set(names)]) {
      image.namesHistory = [name, ...image.namesHistory.filter((n) => n !== name)];
    }
    this.saveLocked(this.locations());
  }

  /** Replaces the metadata. */
  setMetadata(image: Image, metadata: string): void {
    image.metadata = metadata;
    this.saveLocked(this.locations());
  }

  /** Adds a mapped copy of the top layer. */
  addMappedLayer(image: Image, layerID: string): void {
    if (!image.mappedTopLayers.includes(layerID)) image.mappedTopLayers.push(layerID);
    this.saveLocked(this.locations());
  }

  /** Drops `layerID` from every image's mapped layers; true when something changed. */
  forgetMappedLayer(layerID: string): boolean {
    let changed = false;
    for (const image of this.records) {
      if (image.mappedTopLayers.includes(layerID)) {
        image.mappedTopLayers = image.mappedTopLayers.filter((l) => l !== layerID);
        changed = true;
      }
    }
    if (changed) this.saveLocked(this.locations());
    return changed;
  }

  /** Deletes the record and its data directory. */
  async delete(image: Image): Promise<void> {
    checkID(image.id);
    this.removeLocked(image);
    this.saveLocked(this.locations());
    await removeDataDir(this.dataDir(image.id));
  }

  /** `GR/<driver>-images/<id>`. */
  dataDir(id: string): string {
    return join(this.dir, id);
  }

  /**
   * Writes a big-data item. `manifestDigest` computes the digest of
   * `manifest*` keys (c/image passes its manifest digest; the CLI plain SHA-256).
   */
  async setBigData(
    image: Image,
    key: string,
    data: ReadableStream<Uint8Array> | Uint8Array,
    manifestDigest?: (bytes: Uint8Array) => string,
  ): Promise<BigDataInfo> {
    const replacing = image.bigDataNames.includes(key);
    if (replacing) {
      image.flags[WRITING_FLAG] = key;
      this.saveLocked(this.locations());
    }
    let info: BigDataInfo;
    try {
      info = await writeBigData(this.dataDir(image.id), key, data);
    } catch (err) {
      if (replacing) {
        delete image.flags[WRITING_FLAG];
        this.saveLocked(this.locations());
      }
      throw err;
    }
    delete image.flags[WRITING_FLAG];
    if (key.startsWith("manifest") && manifestDigest !== undefined) {
      const bytes = await Deno.readFile(join(this.dataDir(image.id), checkBigDataKey(key)));
      info.digest = manifestDigest(bytes);
    }
    const changed = !image.bigDataNames.includes(key) || image.bigDataSizes[key] !== info.size ||
      image.bigDataDigests[key] !== info.digest;
    if (!image.bigDataNames.includes(key)) image.bigDataNames.push(key);
    image.bigDataSizes[key] = info.size;
    image.bigDataDigests[key] = info.digest;
    recomputeDigests(image);
    if (changed || replacing) this.saveLocked(this.locations());
    return info;
  }

  /** Opens an item for reading. */
  async openBigData(image: Image, key: string): Promise<Deno.FsFile> {
    const file = await openBigData(this.dataDir(image.id), key);
    if (file === null) throw missingItem("image", key, image.id);
    return file;
  }

  /** An item's size: the recorded one, else the file's length. */
  async bigDataSize(image: Image, key: string): Promise<number> {
    const size = image.bigDataSizes[key];
    if (size !== undefined) return size;
    try {
      return (await Deno.stat(join(this.dataDir(image.id), checkBigDataKey(key)))).size;
    } catch {
      throw new StorageError("size-unknown");
    }
  }

  /** An item's recorded digest. */
  bigDataDigest(image: Image, key: string): string {
    const digest = image.bigDataDigests[key];
    if (digest === undefined || digest === "") throw new StorageError("digest-unknown");
    return digest;
  }

  /** Size and digest computed from the file (for checks). */
  statBigData(image: Image, key: string): Promise<BigDataInfo | null> {
    return statBigData(this.dataDir(image.id), key);
  }
}

/**
 * Rebuilds the digest list: `digest` first, then the digests of `manifest*`
 * items, deduplicated; fills an empty `digest` with the first of them.
 */
export function recomputeDigests(image: Image): void {
  const list: string[] = [];
  const add = (d: string, what: string) => {
    const problem = digestProblem(d);
    if (problem !== undefined) {
      throw new Error(`validating ${what} digest ${JSON.stringify(d)}: ${problem}`);
    }
    if (!list.includes(d)) list.push(d);
  };
  if (image.digest !== "") add(image.digest, "image");
  for (const key of image.bigDataNames) {
    const d = image.bigDataDigests[key];
    if (key.startsWith("manifest") && d) add(d, `big data item ${JSON.stringify(key)}`);
  }
  if (image.digest === "" && list.length > 0) image.digest = list[0];
  image.digests = list;
}
