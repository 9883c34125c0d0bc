/**
 * The conventions c/image's `containers-storage:` destination follows when
 * it stores an image, so that an image cstor imports is indistinguishable
 * from one skopeo or podman stored (found by running skopeo 1.9 against a
 * store and reading what it wrote):
 *
 * - layer IDs chain: the first layer's ID is its DiffID's hex; each next
 *   one is the hex SHA-256 of `<parent ID>+<DiffID hex>`, so the same
 *   layers on the same parents get the same IDs everywhere and are shared;
 * - the image ID is the config digest's hex, its `digest` the digest of
 *   the manifest the source named (the index's, when it named one);
 * - big data, in this order: the config under its digest (`sha256:<hex>`),
 *   the index under `manifest-<index digest>` when there was one, the
 *   manifest under `manifest-<digest>` and under `manifest`, then an empty
 *   `signature-<manifest hex>`;
 * - metadata: `{"signatures-sizes":{"<manifest digest>":[]}}`;
 * - names set last, new ones first, then whatever names the image had.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { goJSON } from "../go_json.ts";

/** The big-data key of the default manifest. */
export const MANIFEST_KEY = "manifest";

/** The layer ID c/image gives a layer with `diffID` on top of `parentID` (`""`: none). */
export function chainLayerID(parentID: string, diffID: string): string {
  const hex = digestHex(diffID);
  if (parentID === "") return hex;
  return createHash("sha256").update(`${parentID}+${hex}`).digest("hex");
}

/** The hex part of a digest. */
export function digestHex(digest: string): string {
  return digest.slice(digest.indexOf(":") + 1);
}

/** Key of the manifest (or index) with `digest`. */
export function manifestKey(digest: string): string {
  return `manifest-${digest}`;
}

/** Key of the signatures of the manifest with `digest`. */
export function signatureKey(digest: string): string {
  return `signature-${digestHex(digest)}`;
}

/** The image metadata c/image writes for an unsigned image stored from `manifestDigest`. */
export function imageMetadata(manifestDigest: string): string {
  return goJSON({ "signatures-sizes": { [manifestDigest]: [] } });
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/;

/**
 * A config's `created` as Go writes it back after parsing (offset kept,
 * `+00:00` as `Z`, trailing fraction zeros trimmed); undefined when Go
 * would not parse it (then the store uses the time of import).
 */
export function goTimeString(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const m = RFC3339.exec(text);
  if (m === null || Number.isNaN(Date.parse(`${m[1]}T${m[2]}Z`))) return undefined;
  const frac = (m[3] ?? "").slice(0, 9).replace(/0+$/, "");
  const zone = m[4] === "+00:00" || m[4] === "-00:00" ? "Z" : m[4];
  return `${m[1]}T${m[2]}${frac ? `.${frac}` : ""}${zone}`;
}
