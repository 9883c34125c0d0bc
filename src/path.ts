/**
 * The few POSIX path functions the store needs on every command, with
 * node:path's results.
 *
 * Why not node:path: importing any `node:` module makes Deno load its Node
 * compatibility layer first (assert, util, errors, buffer, the win32 path
 * code…), about 13 ms of every CLI call against a 27 ms hello world. The
 * record stores, locks and drivers that every command loads use these
 * functions instead; code that runs only for heavy commands (the archive
 * code, which needs node:fs anyway) keeps node:path.
 *
 * @module
 */

/** Collapses `//`, `.` and `..` (as far as they go); keeps a trailing slash. */
function normalizeParts(path: string, absolute: boolean): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!absolute) out.push("..");
      continue;
    }
    out.push(part);
  }
  return out.join("/");
}

/**
 * `node:path` `normalize`: `""` is `"."`, a trailing slash is kept.
 *
 * @example
 * ```ts
 * import { normalize } from "./path.ts";
 * normalize("/a//b/../c/"); // "/a/c/"
 * ```
 */
export function normalize(path: string): string {
  if (path === "") return ".";
  const absolute = path.startsWith("/");
  const trailing = path.endsWith("/");
  let body = normalizeParts(path, absolute);
  if (body === "" && !absolute) body = ".";
  if (body !== "" && trailing) body += "/";
  return absolute ? `/${body}` : body;
}

/**
 * Go's `path.Clean`: the shortest lexically equivalent path, without a
 * trailing slash; `""` is `"."`. A relative `..` that cannot be resolved is
 * kept.
 *
 * @example
 * ```ts
 * import { cleanPath } from "./path.ts";
 * cleanPath("/a//b/../c/"); // "/a/c"
 * ```
 */
export function cleanPath(path: string): string {
  if (path === "") return ".";
  const absolute = path.startsWith("/");
  const joined = normalizeParts(path, absolute);
  if (absolute) return "/" + joined;
  return joined === "" ? "." : joined;
}

/**
 * `node:path` `join`: the non-empty parts joined with `/`, normalized.
 *
 * @example
 * ```ts
 * import { join } from "./path.ts";
 * join("/graph", "vfs-layers", "layers.json"); // "/graph/vfs-layers/layers.json"
 * ```
 */
export function join(...parts: string[]): string {
  const joined = parts.filter((p) => p !== "").join("/");
  return joined === "" ? "." : normalize(joined);
}

/**
 * `node:path` `resolve`: an absolute path without a trailing slash, relative
 * parts taken from the current directory.
 *
 * @example
 * ```ts
 * import { resolve } from "./path.ts";
 * resolve("/graph", "../run"); // "/run"
 * ```
 */
export function resolve(...parts: string[]): string {
  let path = "";
  for (let i = parts.length - 1; i >= 0 && !path.startsWith("/"); i--) {
    if (parts[i] === "") continue;
    path = path === "" ? parts[i] : `${parts[i]}/${path}`;
  }
  if (!path.startsWith("/")) path = path === "" ? Deno.cwd() : `${Deno.cwd()}/${path}`;
  return `/${normalizeParts(path, true)}`;
}

/**
 * `node:path` `dirname`.
 *
 * @example
 * ```ts
 * import { dirname } from "./path.ts";
 * dirname("/graph/vfs-layers/layers.json"); // "/graph/vfs-layers"
 * ```
 */
export function dirname(path: string): string {
  if (path === "") return ".";
  // node's algorithm, quirks included: only the last slash run is cut.
  const hasRoot = path[0] === "/";
  let end = -1;
  let matchedSlash = true;
  for (let i = path.length - 1; i >= 1; i--) {
    if (path[i] === "/") {
      if (!matchedSlash) {
        end = i;
        break;
      }
    } else {
      matchedSlash = false;
    }
  }
  if (end === -1) return hasRoot ? "/" : ".";
  if (hasRoot && end === 1) return "//";
  return path.slice(0, end);
}

/**
 * `node:path` `basename`, with `suffix` removed when the name ends in it
 * (and is not just the suffix).
 *
 * @example
 * ```ts
 * import { basename } from "./path.ts";
 * basename("/graph/layers.json", ".json"); // "layers"
 * ```
 */
export function basename(path: string, suffix?: string): string {
  let end = path.length;
  while (end > 0 && path[end - 1] === "/") end--;
  if (end === 0) return "";
  const name = path.slice(path.lastIndexOf("/", end - 1) + 1, end);
  if (suffix !== undefined && suffix !== name && name.endsWith(suffix)) {
    return name.slice(0, name.length - suffix.length);
  }
  return name;
}
