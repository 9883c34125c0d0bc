/**
 * cstor: container storage (the layers, images and containers Podman,
 * Buildah, CRI-O and Skopeo keep on disk) for Deno. It reads and writes the
 * same on-disk format and takes the same locks as the Go library
 * containers/storage, so cstor and the Go tools can share one store.
 *
 * @example
 * ```ts
 * import { openStore } from "@cstor/storage";
 * const store = await openStore({ graphRoot: "/tmp/demo/graph", runRoot: "/tmp/demo/run", driver: "vfs" });
 * const layer = await store.createLayer();
 * const image = await store.createImage({ topLayer: layer.id, names: ["demo:latest"] });
 * console.log(image.id, (await store.images()).length);
 * ```
 *
 * @module
 */

export { openStore, Store } from "./src/store.ts";
export type {
  CheckOptions,
  CheckProblem,
  CheckReport,
  CreateContainerOptions,
  CreateImageOptions,
  CreateLayerOptions,
  DiffOptions,
  Existence,
  GarbageCollected,
  MountOptions,
  RecordFileRepair,
  Remedy,
  RepairOptions,
  RepairResult,
  StoreOptions,
} from "./src/store.ts";
export type { Layer } from "./src/records/layer_record.ts";
export type { Image } from "./src/records/image_record.ts";
export type { Container } from "./src/records/container_record.ts";
export type { IDMap } from "./src/archive/idmap.ts";
export type { IDMappings } from "./src/drivers/driver.ts";
export type { Change, ChangeKind } from "./src/archive/changes.ts";
export type { BigDataInfo } from "./src/big_data.ts";
export type { LayerInput } from "./src/archive/layer_stream.ts";
export type { ByteReader } from "./src/archive/byte_source.ts";
export {
  CorruptStoreError,
  ERROR_TEXT,
  type ErrorCode,
  isStorageError,
  StorageError,
} from "./src/errors.ts";
export { VERSION } from "./src/version.ts";
