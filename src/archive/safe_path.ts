/**
 * Path safety for writing tar entries below a directory.
 *
 * The rule is stricter than Go's: an entry may only name a path below the
 * target by plain components — no absolute names, no `..` left after
 * cleaning — and no directory on the way to it may be a symlink (cstor never
 * follows a symlink below the target, even one that points back inside).
 * Offending input is refused, not clamped.
 *
 * {@link DirGuard} remembers which directories are known to be real, so a
 * 20k-entry layer costs one `lstat` per new directory, not one per component
 * per entry.
 *
 * @module
 */

import { StorageError } from "../errors.ts";
import { cleanPath } from "../path.ts";

/** A tar entry that would create or change something outside the target. */
export class UnsafeEntryError extends StorageError {
  /** The entry's name as it appears in the archive. */
  readonly entry: string;

  constructor(entry: string, problem: string) {
    super("invalid-input", undefined, {
      message: `applying layer: entry ${JSON.stringify(entry)} ${problem}`,
    });
    this.entry = entry;
    this.name = "UnsafeEntryError";
  }
}

/**
 * Validates a tar entry name and returns it cleaned and relative (`"."` for
 * the root). Refuses empty and absolute names, names that still climb out
 * with `..` after cleaning, and names with NUL bytes.
 *
 * @param name the entry name (after PAX/GNU long-name processing)
 * @param dest the target directory, for Go's `is outside of` wording
 */
export function entryPath(name: string, dest: string): string {
  if (name === "") throw new UnsafeEntryError(name, "has an empty name");
  if (name.includes("\0")) throw new UnsafeEntryError(name, "has a NUL byte in its name");
  if (name.startsWith("/")) {
    throw new UnsafeEntryError(
      name,
      `has an absolute name: ${JSON.stringify(name)} is outside of ${JSON.stringify(dest)}`,
    );
  }
  const rel = cleanPath(name);
  if (rel === ".." || rel.startsWith("../")) {
    throw new UnsafeEntryError(
      name,
      `escapes the layer directory: ${JSON.stringify(name)} is outside of ${JSON.stringify(dest)}`,
    );
  }
  return rel;
}

/** The parent of a cleaned relative path (`"."` for top-level names). */
export function parentOf(rel: string): string {
  const i = rel.lastIndexOf("/");
  return i < 0 ? "." : rel.substring(0, i);
}

/** The last component of a cleaned relative path. */
export function baseOf(rel: string): string {
  const i = rel.lastIndexOf("/");
  return i < 0 ? rel : rel.substring(i + 1);
}

/** Joins a cleaned relative directory and a name. */
export function joinRel(dir: string, name: string): string {
  return dir === "." ? name : `${dir}/${name}`;
}

/** Outcome of {@link DirGuard.dir}. */
export type DirStatus = "ok" | "missing" | { symlink: string } | { notDir: string };

/** The error for a `{ symlink }` or `{ notDir }` status met while handling `entry`. */
export function unsafeStatus(
  entry: string,
  st: { symlink: string } | { notDir: string },
): UnsafeEntryError {
  if ("symlink" in st) {
    return new UnsafeEntryError(
      entry,
      `would be written through symlink ${JSON.stringify(st.symlink)}`,
    );
  }
  return new UnsafeEntryError(
    entry,
    `has a parent that is not a directory: ${JSON.stringify(st.notDir)}`,
  );
}

/** Options for {@link DirGuard}. */
export interface DirGuardOptions {
  /** Mode for directories the guard creates (default 0o755). */
  mode?: number;
  /** Called after the guard created a directory (to chown it, record it…). */
  onCreate?: (abs: string, rel: string) => void;
}

/**
 * Tracks which directories below `root` are real directories reached without
 * symlinks, creating missing ones on request. Callers must call
 * {@link DirGuard.forget} whenever they remove or replace something that may
 * be a directory, so a later entry cannot go through a symlink put in its
 * place.
 */
export class DirGuard {
  /** The directory everything stays below. */
  readonly root: string;
  #known = new Set<string>(["."]);
  #mode: number;
  #onCreate?: (abs: string, rel: string) => void;

  constructor(root: string, options: DirGuardOptions = {}) {
    this.root = root;
    this.#mode = options.mode ?? 0o755;
    this.#onCreate = options.onCreate;
  }

  /** Absolute path of a cleaned relative path. */
  abs(rel: string): string {
    return rel === "." ? this.root : `${this.root}/${rel}`;
  }

  /**
   * Makes sure `rel` is a directory reached from the root through real
   * directories only. Missing directories are created when `create` is set.
   *
   * @returns `"ok"`; `"missing"` (only without `create`); or the first
   *   offending component as `{ symlink }` or `{ notDir }`
   */
  dir(rel: string, create: boolean): DirStatus {
    if (this.#known.has(rel)) return "ok";
    // Climb to the deepest directory already known, then check downwards.
    let base = rel;
    while (!this.#known.has(base)) base = parentOf(base);
    let cur = base;
    const rest = base === "." ? rel : rel.substring(base.length + 1);
    for (const part of rest.split("/")) {
      cur = joinRel(cur, part);
      const abs = this.abs(cur);
      let info: Deno.FileInfo | undefined;
      try {
        info = Deno.lstatSync(abs);
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
      if (info === undefined) {
        if (!create) return "missing";
        Deno.mkdirSync(abs, { mode: this.#mode });
        this.#known.add(cur);
        this.#onCreate?.(abs, cur);
        continue;
      }
      if (info.isSymlink) return { symlink: cur };
      if (!info.isDirectory) return { notDir: cur };
      this.#known.add(cur);
    }
    return "ok";
  }

  /**
   * {@link DirGuard.dir}, throwing for a symlink or non-directory on the way.
   *
   * @param entry the archive entry being handled, for the error message
   * @returns false when the directory is missing (only without `create`)
   * @throws UnsafeEntryError naming `entry` and the offending component
   */
  requireDir(rel: string, create: boolean, entry: string): boolean {
    const st = this.dir(rel, create);
    if (st === "ok") return true;
    if (st === "missing") return false;
    throw unsafeStatus(entry, st);
  }

  /** Records that `rel` is a directory the caller verified or just created. */
  verified(rel: string): void {
    this.#known.add(rel);
  }

  /** True when `rel` is known to be a safe directory. */
  isKnown(rel: string): boolean {
    return this.#known.has(rel);
  }

  /** Forgets `rel` and everything below it (it was removed or replaced). */
  forget(rel: string): void {
    if (rel === ".") {
      this.#known = new Set(["."]);
      return;
    }
    const prefix = rel + "/";
    this.#known.delete(rel);
    for (const k of this.#known) if (k.startsWith(prefix)) this.#known.delete(k);
  }
}
