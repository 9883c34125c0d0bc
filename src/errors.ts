/**
 * Errors raised by cstor. Every error carries a stable `code`; its message
 * text is the one the Go library prints, because scripts match on it.
 *
 * @module
 */

/**
 * Stable codes with the default message text the Go library uses for each.
 *
 * @example
 * ```ts
 * import { ERROR_TEXT } from "@cstor/storage";
 * console.log(ERROR_TEXT["layer-unknown"]); // "layer not known"
 * ```
 */
export const ERROR_TEXT = {
  "layer-unknown": "layer not known",
  "image-unknown": "image not known",
  "container-unknown": "container not known",
  "duplicate-id": "that ID is already in use",
  "duplicate-name": "that name is already in use",
  "parent-is-container": "would-be parent layer is a container",
  "layer-has-children": "layer has children",
  "layer-used-by-image": "layer is in use by an image",
  "layer-used-by-container": "layer is in use by a container",
  "image-used-by-container": "image is in use by a container",
  "not-a-layer": "identifier is not a layer",
  "not-an-image": "identifier is not an image",
  "not-a-container": "identifier is not a container",
  "not-an-id": "identifier is not a layer, image, or container",
  "layer-not-mounted": "layer is not mounted",
  "read-only-store": "called a write method on a read-only store",
  "size-unknown": "size is not known",
  "digest-unknown": "could not compute digest of item",
  "invalid-big-data-name": "not a valid name for a big data item",
  "file-not-exist": "file does not exist",
  "invalid-digest": "invalid digest",
  "invalid-id": "invalid identifier",
  "corrupt-store": "store file is corrupt",
  "lock-failed": "cannot use lock file",
  "ffi-required": "this operation needs --allow-ffi",
  "invalid-input": "invalid input",
  "unsupported": "not supported",
  "driver": "storage driver error",
  "config": "invalid storage configuration",
  "incomplete-layer": "layer is incomplete",
  "mount": "mount failed",
} as const;

/**
 * The stable code of a {@link StorageError}.
 *
 * @example
 * ```ts
 * import { type ErrorCode, isStorageError } from "@cstor/storage";
 * const code: ErrorCode = "image-unknown";
 * console.log(isStorageError(new Error("x"), code)); // false
 * ```
 */
export type ErrorCode = keyof typeof ERROR_TEXT;

/**
 * An error from the store. `code` is stable; `message` is what the Go
 * library would print in the same situation (including its wrapping prefixes).
 *
 * @example
 * ```ts
 * import { StorageError } from "./errors.ts";
 * const err = new StorageError("layer-unknown");
 * console.log(err.message); // "layer not known"
 * ```
 */
export class StorageError extends Error {
  /** Stable identifier of the kind of failure. */
  readonly code: ErrorCode;

  /**
   * An error of kind `code`, with upstream's message for it.
   *
   * @param code what went wrong
   * @param context text placed before the default message, Go-style (`context: message`)
   */
  constructor(code: ErrorCode, context?: string, options?: { cause?: unknown; message?: string }) {
    const base = options?.message ?? ERROR_TEXT[code];
    super(context ? `${context}: ${base}` : base, { cause: options?.cause });
    this.code = code;
    this.name = "StorageError";
  }
}

/**
 * True when `err` is a {@link StorageError}, optionally of the given code.
 *
 * @example
 * ```ts
 * import { isStorageError, openStore } from "@cstor/storage";
 * const store = await openStore({ graphRoot: "/tmp/g", runRoot: "/tmp/r", driver: "vfs" });
 * try {
 *   await store.deleteLayer("no-such-layer");
 * } catch (err) {
 *   if (isStorageError(err, "not-a-layer")) console.log("nothing to delete");
 * }
 * ```
 */
export function isStorageError(err: unknown, code?: ErrorCode): err is StorageError {
  return err instanceof StorageError && (code === undefined || err.code === code);
}

/**
 * A store file that cannot be loaded. The message names the file and what is
 * wrong with it, as Go does (`loading "<path>": <problem>`).
 *
 * @example
 * ```ts
 * import { CorruptStoreError, openStore } from "@cstor/storage";
 * try {
 *   const store = await openStore({ graphRoot: "/tmp/g", runRoot: "/tmp/r", driver: "vfs" });
 *   await store.layers();
 * } catch (err) {
 *   if (err instanceof CorruptStoreError) console.error(`fix or restore ${err.path}`);
 * }
 * ```
 */
export class CorruptStoreError extends StorageError {
  /** The file that could not be loaded. */
  readonly path: string;

  /**
   * An error for `path`, reading `loading "<path>": <problem>`.
   *
   * @param path the file that could not be loaded
   * @param problem what is wrong with it
   */
  constructor(path: string, problem: string, options?: { cause?: unknown }) {
    super("corrupt-store", undefined, {
      message: `loading ${JSON.stringify(path)}: ${problem}`,
      cause: options?.cause,
    });
    this.path = path;
    this.name = "CorruptStoreError";
  }
}

/** Adds Go-style context (`context: message`) to any error, keeping its code. */
export function wrapError(err: unknown, context: string): Error {
  if (err instanceof StorageError) {
    return new StorageError(err.code, undefined, {
      message: `${context}: ${err.message}`,
      cause: err,
    });
  }
  const msg = err instanceof Error ? err.message : String(err);
  return new Error(`${context}: ${msg}`, { cause: err });
}

/** The message of any thrown value. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** True when `err` is Deno's or Node's "no such file" error. */
export function isNotFound(err: unknown): boolean {
  return err instanceof Deno.errors.NotFound ||
    (typeof err === "object" && err !== null && (err as { code?: string }).code === "ENOENT");
}
