/**
 * Image locations in the syntax skopeo and podman use:
 * `oci:DIR[:REF]`, `oci-archive:FILE[:REF]`, `docker-archive:FILE[:REF]`.
 * As upstream does, the path ends at the first `:` after the transport.
 *
 * @module
 */

import { ImageInputError } from "./errors.ts";

/** The transports cstor reads and writes. */
export type Transport = "oci" | "oci-archive" | "docker-archive";

const TRANSPORTS: readonly Transport[] = ["oci", "oci-archive", "docker-archive"];

/** A parsed location. */
export interface TransportRef {
  /** Which transport. */
  transport: Transport;
  /** The directory or archive file. */
  path: string;
  /**
   * What to pick inside it: an OCI `org.opencontainers.image.ref.name`, or
   * for docker-archive a repository tag or `@N` (N-th image). Empty: the
   * only image there.
   */
  ref: string;
}

/** Parses `transport:path[:ref]`. */
export function parseTransportRef(text: string): TransportRef {
  const colon = text.indexOf(":");
  const transport = text.slice(0, colon) as Transport;
  if (colon <= 0 || !TRANSPORTS.includes(transport)) {
    throw new ImageInputError(
      "bad-reference",
      `invalid image location ${JSON.stringify(text)}: want ${
        TRANSPORTS.map((t) => `${t}:PATH[:REF]`).join(", ")
      }`,
    );
  }
  const rest = text.slice(colon + 1);
  const sep = rest.indexOf(":");
  const path = sep < 0 ? rest : rest.slice(0, sep);
  const ref = sep < 0 ? "" : rest.slice(sep + 1);
  if (path === "") {
    throw new ImageInputError(
      "bad-reference",
      `invalid image location ${JSON.stringify(text)}: no path`,
    );
  }
  if (sep >= 0 && ref === "") {
    throw new ImageInputError(
      "bad-reference",
      `invalid image location ${JSON.stringify(text)}: empty reference`,
    );
  }
  return { transport, path, ref };
}

/** The location as text. */
export function formatTransportRef(r: TransportRef): string {
  return `${r.transport}:${r.path}${r.ref ? `:${r.ref}` : ""}`;
}
