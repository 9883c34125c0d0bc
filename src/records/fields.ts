/**
 * Typed access to the members of a JSON record read from disk. A member of
 * the wrong type makes the whole file fail to load, with a message naming
 * the file, the record and the key; an absent member is its zero value
 * (records.md §1: absent and zero are the same).
 *
 * @module
 */

import { CorruptStoreError } from "../errors.ts";
import { compareBytes } from "../go_json.ts";
import type { IDMap } from "../archive/idmap.ts";

/** Reads members of one record, reporting problems against its file and index. */
export class FieldReader {
  readonly #raw: Record<string, unknown>;
  readonly #path: string;
  readonly #index: number;
  /**
   * Keys read so far. A short array, not a set: records have a dozen or
   * two members, and stores load thousands of records per command.
   */
  readonly #read: string[] = [];

  constructor(raw: Record<string, unknown>, path: string, index: number) {
    this.#raw = raw;
    this.#path = path;
    this.#index = index;
  }

  fail(key: string, problem: string): never {
    throw new CorruptStoreError(this.#path, `record ${this.#index}: "${key}" ${problem}`);
  }

  #get(key: string): unknown {
    this.#read.push(key);
    const v = this.#raw[key];
    return v === null ? undefined : v;
  }

  string(key: string): string {
    const v = this.#get(key);
    if (v === undefined) return "";
    if (typeof v !== "string") this.fail(key, "is not a string");
    return v;
  }

  int(key: string): number {
    const v = this.#get(key);
    if (v === undefined) return 0;
    if (typeof v !== "number" || !Number.isInteger(v)) this.fail(key, "is not an integer");
    return v;
  }

  strings(key: string): string[] {
    const v = this.#get(key);
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) {
      this.fail(key, "is not a list of strings");
    }
    return [...v];
  }

  uints(key: string): number[] {
    const v = this.#get(key);
    if (v === undefined) return [];
    if (
      !Array.isArray(v) || v.some((n) => typeof n !== "number" || !Number.isInteger(n) || n < 0)
    ) {
      this.fail(key, "is not a list of unsigned integers");
    }
    return [...v];
  }

  object(key: string): Record<string, unknown> {
    const v = this.#get(key);
    if (v === undefined) return {};
    if (typeof v !== "object" || Array.isArray(v)) this.fail(key, "is not an object");
    return { ...(v as Record<string, unknown>) };
  }

  intMap(key: string): Record<string, number> {
    const obj = this.object(key);
    for (const [k, n] of Object.entries(obj)) {
      if (typeof n !== "number" || !Number.isInteger(n)) {
        this.fail(key, `has a non-integer value for ${JSON.stringify(k)}`);
      }
    }
    return obj as Record<string, number>;
  }

  stringMap(key: string): Record<string, string> {
    const obj = this.object(key);
    for (const [k, s] of Object.entries(obj)) {
      if (typeof s !== "string") this.fail(key, `has a non-string value for ${JSON.stringify(k)}`);
    }
    return obj as Record<string, string>;
  }

  idMaps(key: string): IDMap[] {
    const v = this.#get(key);
    if (v === undefined) return [];
    if (!Array.isArray(v)) this.fail(key, "is not a list of ID mappings");
    return v.map((m) => {
      const ok = m !== null && typeof m === "object" &&
        ["container_id", "host_id", "size"].every((k) =>
          Number.isInteger((m as Record<string, unknown>)[k] ?? 0)
        );
      if (!ok) this.fail(key, "has a malformed ID mapping");
      const r = m as Record<string, number>;
      return { container_id: r.container_id ?? 0, host_id: r.host_id ?? 0, size: r.size ?? 0 };
    });
  }

  /** Members not read through this reader: kept so a rewrite loses nothing. */
  extra(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(this.#raw)) if (!this.#read.includes(k)) out[k] = this.#raw[k];
    return out;
  }
}

/** `value` when it is not the zero value, else undefined (Go's omitempty). */
export function omitEmpty<T>(value: T): T | undefined {
  if (value === "" || value === 0 || value === false || value === null || value === undefined) {
    return undefined;
  }
  if (Array.isArray(value) && value.length === 0) return undefined;
  if (
    typeof value === "object" && !Array.isArray(value) && Object.keys(value as object).length === 0
  ) {
    return undefined;
  }
  return value;
}

/** A map with sorted keys, or undefined when empty (omitempty maps). */
export function omitEmptyMap<T>(map: Record<string, T>): Record<string, T> | undefined {
  const keys = Object.keys(map);
  if (keys.length === 0) return undefined;
  const out: Record<string, T> = {};
  for (const k of keys.sort(compareBytes)) out[k] = map[k];
  return out;
}

/** Flags are written with sorted keys; nested values as they are. */
export function sortFlags(flags: Record<string, unknown>): Record<string, unknown> | undefined {
  return omitEmptyMap(flags);
}

/** Names deduplicated, first occurrence kept (records.md §6). */
export function dedupeNames(names: readonly string[]): string[] {
  return [...new Set(names)];
}

/** A deep copy of an ID map list. */
export function copyIDMaps(maps: readonly IDMap[]): IDMap[] {
  return maps.map((m) => ({ ...m }));
}
