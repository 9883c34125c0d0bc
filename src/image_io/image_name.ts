/**
 * Image names as c/image stores them: a Docker reference, normalised the
 * way `docker pull` reads it (`busybox` → `docker.io/library/busybox:latest`),
 * so that podman finds an imported image under the name it would give it.
 *
 * @module
 */

import { ImageInputError } from "./errors.ts";

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN =
  /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;

/** A parsed, normalised reference. */
export interface ImageName {
  /** `domain/path`, e.g. `docker.io/library/busybox`. */
  repository: string;
  /** The tag, if any. */
  tag?: string;
  /** The digest, if any. */
  digest?: string;
}

function bad(text: string, why: string): ImageInputError {
  return new ImageInputError("bad-reference", `invalid image name ${JSON.stringify(text)}: ${why}`);
}

/** Parses and normalises a reference (domain, `library/`, but no default tag). */
export function parseImageName(text: string): ImageName {
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad(text, "invalid digest");
  }
  let tag: string | undefined;
  const lastColon = rest.lastIndexOf(":");
  if (lastColon > rest.lastIndexOf("/")) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) throw bad(text, "invalid tag");
  }
  if (rest === "") throw bad(text, "no repository");
  let domain = "docker.io";
  let path = rest;
  const slash = rest.indexOf("/");
  const first = slash < 0 ? "" : rest.slice(0, slash);
  if (
    slash >= 0 &&
    (first.includes(".") || first.includes(":") || first === "localhost" ||
      first !== first.toLowerCase())
  ) {
    domain = first;
    path = rest.slice(slash + 1);
  }
  if (domain === "index.docker.io") domain = "docker.io";
  if (domain === "docker.io" && !path.includes("/")) path = `library/${path}`;
  if (!DOMAIN.test(domain)) throw bad(text, "invalid domain");
  if (path !== path.toLowerCase()) throw bad(text, "repository name must be lowercase");
  if (!path.split("/").every((c) => COMPONENT.test(c))) throw bad(text, "invalid repository path");
  const repository = `${domain}/${path}`;
  if (repository.length > 255) {
    throw bad(text, "repository name must not be more than 255 characters");
  }
  const name: ImageName = { repository };
  if (tag !== undefined) name.tag = tag;
  if (digest !== undefined) name.digest = digest;
  return name;
}

/** The reference as text. */
export function formatImageName(n: ImageName): string {
  return n.repository + (n.tag !== undefined ? `:${n.tag}` : "") +
    (n.digest !== undefined ? `@${n.digest}` : "");
}

/**
 * The name c/image gives an image stored under `text`: normalised, with
 * `:latest` added when neither a tag nor a digest is given.
 */
export function normalizeImageName(text: string): string {
  const n = parseImageName(text);
  if (n.tag === undefined && n.digest === undefined) n.tag = "latest";
  return formatImageName(n);
}
