/**
 * Choosing an image for a platform from an index / manifest list.
 *
 * @module
 */

import { ImageInputError } from "./errors.ts";
import type { Descriptor, ImageIndex, Platform } from "./manifest.ts";

const GO_ARCH: Record<string, string> = { x86_64: "amd64", aarch64: "arm64" };

/** The platform this process runs on, in OCI (Go) names. */
export function hostPlatform(): Platform {
  return { os: Deno.build.os, architecture: GO_ARCH[Deno.build.arch] ?? Deno.build.arch };
}

/** Parses `os/arch[/variant]` (as `podman --platform` takes it). */
export function parsePlatform(text: string): Platform {
  const parts = text.split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === "")) {
    throw new ImageInputError(
      "bad-reference",
      `invalid platform ${JSON.stringify(text)}: want os/arch[/variant]`,
    );
  }
  const p: Platform = { os: parts[0], architecture: parts[1] };
  if (parts[2]) p.variant = parts[2];
  return p;
}

/** The variant a platform means when it names none (arm64 images are v8). */
function effectiveVariant(p: Platform): string {
  if (p.variant) return p.variant;
  return p.architecture === "arm64" ? "v8" : "";
}

/** True when `candidate` can run where `want` is asked for. */
export function platformMatches(candidate: Platform, want: Platform): boolean {
  if (candidate.os !== want.os || candidate.architecture !== want.architecture) return false;
  if (!want.variant) return true;
  return effectiveVariant(candidate) === effectiveVariant(want);
}

/** The first entry of `index` for `want`; a `no-platform` error when there is none. */
export function chooseInstance(index: ImageIndex, want: Platform, what: string): Descriptor {
  const found = index.manifests.find((d) => d.platform && platformMatches(d.platform, want));
  if (found) return found;
  const offered = index.manifests.map((d) =>
    d.platform
      ? [d.platform.os, d.platform.architecture, d.platform.variant].filter(Boolean).join("/")
      : "(no platform)"
  );
  throw new ImageInputError(
    "no-platform",
    `${what}: no image found in manifest list for architecture ${want.architecture}, ` +
      `variant ${JSON.stringify(want.variant ?? "")}, OS ${want.os} (it offers ${
        offered.join(", ") || "nothing"
      })`,
  );
}
