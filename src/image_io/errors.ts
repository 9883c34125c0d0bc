/**
 * The errors an image import or export reports for bad input. Each carries
 * a `reason` so callers (and tests) can tell a missing blob from a digest
 * mismatch without matching message text.
 *
 * @module
 */

import { StorageError } from "../errors.ts";

/** Why an image source or destination was refused. */
export type ImageInputReason =
  | "bad-reference"
  | "not-found"
  | "missing-blob"
  | "digest-mismatch"
  | "size-mismatch"
  | "media-type"
  | "no-platform"
  | "ambiguous"
  | "bad-json"
  | "diff-id-mismatch"
  | "conflict";

/**
 * Bad or unusable image input. Its store error code is `invalid-input`, or
 * `unsupported` for media types this version does not handle.
 *
 * @example
 * ```ts
 * import { ImageInputError } from "./errors.ts";
 * const err = new ImageInputError("missing-blob", "blob sha256:ab… is missing");
 * console.log(err.reason, err.message);
 * ```
 */
export class ImageInputError extends StorageError {
  /** What kind of problem it is. */
  readonly reason: ImageInputReason;

  /**
   * Makes the error.
   *
   * @param reason what kind of problem
   * @param message the whole message
   */
  constructor(reason: ImageInputReason, message: string, options?: { cause?: unknown }) {
    super(reason === "media-type" ? "unsupported" : "invalid-input", undefined, {
      message,
      cause: options?.cause,
    });
    this.reason = reason;
    this.name = "ImageInputError";
  }
}
