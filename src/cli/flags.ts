/**
 * Command-line flags parsed the way the Go CLI's "mflag" package does:
 * `--name`, `--name=value`, `--name value`, `-x`, `-x value`, combined
 * single-letter booleans (`-jq`), booleans set with `=true`/`=false`;
 * parsing stops at `--` or at the first argument that is not a flag.
 *
 * @module
 */

/** One flag a command accepts. */
export interface FlagSpec {
  /** Long name without dashes (`json`). */
  long: string;
  /** Further long names (`bz2` beside `bzip2`). */
  aliases?: string[];
  /** Single letter (`j`). */
  short?: string;
  /** `bool` takes no value; `string` takes one; `list` may be repeated. */
  kind: "bool" | "string" | "list";
  /** Help text. */
  help: string;
  /** Shown in the help's default column. */
  placeholder?: string;
}

/** Parsed values: bools as booleans, strings as strings, lists as arrays. */
export type FlagValues = Map<string, boolean | string | string[]>;

/** A flag parsing error, with Go's wording. */
export class FlagError extends Error {}

/** Result of {@link parseFlags}. */
export interface ParsedFlags {
  values: FlagValues;
  /** Long names of the flags that appeared, in order. */
  seen: string[];
  /** The arguments after the flags. */
  rest: string[];
  /** `-h` or `--help` was given. */
  help: boolean;
}

const TRUE = ["1", "t", "T", "true", "TRUE", "True"];
const FALSE = ["0", "f", "F", "false", "FALSE", "False"];

function parseBool(flag: string, value: string): boolean {
  if (TRUE.includes(value)) return true;
  if (FALSE.includes(value)) return false;
  throw new FlagError(
    `invalid boolean value "${value}" for  ${flag}: strconv.ParseBool: parsing "${value}": invalid syntax`,
  );
}

/** Parses `args` against `specs`. */
export function parseFlags(args: readonly string[], specs: readonly FlagSpec[]): ParsedFlags {
  const values: FlagValues = new Map();
  const seen: string[] = [];
  let help = false;
  const byLong = new Map<string, FlagSpec>();
  const byShort = new Map<string, FlagSpec>();
  for (const s of specs) {
    byLong.set(s.long, s);
    for (const a of s.aliases ?? []) byLong.set(a, s);
    if (s.short) byShort.set(s.short, s);
  }
  const set = (spec: FlagSpec, value: boolean | string) => {
    seen.push(spec.long);
    if (spec.kind === "list") {
      const list = (values.get(spec.long) as string[] | undefined) ?? [];
      list.push(value as string);
      values.set(spec.long, list);
    } else {
      values.set(spec.long, value);
    }
  };
  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      i++;
      break;
    }
    if (arg.length < 2 || arg[0] !== "-") break;
    const long = arg.startsWith("--");
    const body = arg.slice(long ? 2 : 1);
    const eq = body.indexOf("=");
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const inline = eq >= 0 ? body.slice(eq + 1) : undefined;
    if (name === "h" || name === "help") {
      help = true;
      continue;
    }
    const spec = long ? byLong.get(name) : byShort.get(name);
    if (spec === undefined) {
      // Combined single-letter booleans, e.g. -jq.
      if (!long && inline === undefined && name.length > 1) {
        const parts = [...name].map((c) => byShort.get(c));
        if (parts.every((p) => p !== undefined && p.kind === "bool")) {
          for (const p of parts) set(p!, true);
          continue;
        }
        const needs = parts.find((p) => p !== undefined && p.kind !== "bool");
        if (needs !== undefined && parts.every((p) => p !== undefined)) {
          throw new FlagError(`flag needs an argument: -${needs.short}`);
        }
      }
      throw new FlagError(`flag provided but not defined: ${long ? "--" : "-"}${name}`);
    }
    if (spec.kind === "bool") {
      set(spec, inline === undefined ? true : parseBool(arg.slice(0, arg.indexOf("=")), inline));
      continue;
    }
    if (inline !== undefined) {
      set(spec, inline);
      continue;
    }
    if (i + 1 >= args.length) throw new FlagError(`flag needs an argument: ${arg}`);
    set(spec, args[++i]);
  }
  return { values, seen, rest: args.slice(i), help };
}

/** Go-style help lines for `specs` (`  --json, -j    Prefer JSON output`). */
export function flagHelp(specs: readonly FlagSpec[]): string {
  const rows = [...specs].sort((a, b) => a.long.localeCompare(b.long)).map((s) => {
    let names = `--${s.long}`;
    for (const a of s.aliases ?? []) names += `, --${a}`;
    if (s.short) names += `, -${s.short}`;
    if (s.kind === "list") names += "=[]";
    else if (s.placeholder) names += `=${s.placeholder}`;
    return [names, s.help];
  });
  const width = Math.max(0, ...rows.map(([n]) => n.length)) + 4;
  return rows.map(([n, h]) => `  ${n.padEnd(width)}${h}\n`).join("");
}

/** Reads a bool flag. */
export function flagBool(values: FlagValues, name: string): boolean {
  return values.get(name) === true;
}

/** Reads a string flag; undefined when absent. */
export function flagString(values: FlagValues, name: string): string | undefined {
  const v = values.get(name);
  return typeof v === "string" ? v : undefined;
}

/** Reads a list flag; [] when absent. */
export function flagList(values: FlagValues, name: string): string[] {
  const v = values.get(name);
  return Array.isArray(v) ? v : [];
}
