/**
 * Store upkeep commands of later upstream versions: `gc` (v1.46) and
 * `check` (v1.47), with their flags, output and exit codes.
 *
 * Deliberate differences: upstream's `check --json` prints each problem as
 * `{}` (Go cannot encode its error values), cstor prints the messages; and
 * upstream's `check` ends with a forced shutdown that unmounts every
 * mounted layer, which a check has no reason to do, so cstor's does not
 * (`gc` does, as upstream's).
 *
 * @module
 */

import { type Command, JSON_FLAG } from "./command.ts";
import { flagBool, flagString } from "./flags.ts";
import { jsonLine } from "./output.ts";
import { CorruptStoreError, errorMessage } from "../errors.ts";
import { sortedMap } from "../go_json.ts";
import type { Store } from "../store.ts";
// From the report module, not ops/check.ts: that one brings the archive code
// (tar-split checks) into every CLI start.
import { type CheckProblem, type CheckReport, reportGroups } from "../ops/check_report.ts";
import type { RecordFileRepair } from "../ops/repair.ts";

/** Text labels of the report groups, in upstream's print order. */
const LABELS: Array<[string, string]> = [
  ["Layers", "layer"],
  ["ROLayers", "read-only layer"],
  ["Images", "image"],
  ["ROImages", "read-only image"],
  ["Containers", "container"],
];

const UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  "μs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * A Go duration (`24h`, `1h30m`, `1.5s`, `-2m`) in milliseconds; throws
 * with Go's wording when it is not one.
 */
export function parseGoDuration(text: string): number {
  const invalid = () => new Error(`time: invalid duration ${JSON.stringify(text)}`);
  let s = text;
  let sign = 1;
  if (s.startsWith("-") || s.startsWith("+")) {
    sign = s[0] === "-" ? -1 : 1;
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") throw invalid();
  let total = 0;
  const part = /^([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)/;
  while (s !== "") {
    const m = part.exec(s);
    if (m === null || m[1] === "" || m[1] === ".") {
      if (m === null && /^[0-9.]+$/.test(s)) {
        throw new Error(`time: missing unit in duration ${JSON.stringify(text)}`);
      }
      throw invalid();
    }
    total += Number(m[1]) * UNITS[m[2]];
    s = s.slice(m[0].length);
  }
  return sign * total;
}

function printReport(out: (text: string) => void, report: CheckReport): void {
  const groups = reportGroups(report);
  let text = "";
  for (const [group, label] of LABELS) {
    for (const [id, messages] of Object.entries(groups[group])) {
      text += `${label} ${id}:\n`;
      for (const m of messages) text += ` ${m}\n`;
    }
  }
  out(text);
}

function reportJSON(report: CheckReport): string {
  const groups = reportGroups(report);
  const out: Record<string, Record<string, string[]>> = {};
  for (const [group] of LABELS) out[group] = sortedMap(groups[group]);
  return jsonLine(out);
}

/** How many objects of each group have problems, as upstream's summary counts them. */
function counts(problems: CheckProblem[]): Record<string, number> {
  const groups = reportGroups({ problems, layerParents: new Map() });
  return Object.fromEntries(LABELS.map(([g]) => [g, Object.keys(groups[g]).length]));
}

/** Checks, and with `--repair` fixes first what keeps the store from loading at all. */
async function checkStore(
  store: Store,
  options: { quick: boolean; maxUnreferencedAge: number },
  repair: boolean,
  say: (text: string) => void,
): Promise<CheckReport> {
  try {
    return await store.check(options);
  } catch (err) {
    if (!repair || !(err instanceof CorruptStoreError)) throw err;
    let fixed: RecordFileRepair[];
    try {
      fixed = await store.repairRecordFiles();
    } catch {
      fixed = [];
    }
    if (fixed.length === 0) {
      throw new CorruptStoreError(
        err.path,
        `${errorMessage(err).replace(/^loading "[^"]*": /, "")} ` +
          "(check --repair cannot fix this file: restore it from a backup, " +
          "or move it away and lose its records)",
      );
    }
    for (const f of fixed) {
      for (const d of f.dropped) say(`${f.path}: dropped ${d} (previous content in ${f.backup})\n`);
    }
    return await store.check(options);
  }
}

/** The `gc` and `check` commands. */
export const checkCommands: Command[] = [
  {
    name: "gc",
    description: "Perform garbage collection",
    usage: "[options [...]]",
    minArgs: 0,
    maxArgs: 0,
    flags: [JSON_FLAG],
    run: async (ctx) => {
      const store = await ctx.store();
      let failure: unknown;
      try {
        await store.garbageCollect();
      } catch (err) {
        failure = err;
      }
      if (failure === undefined && flagBool(ctx.flags, "json")) ctx.out.stdout(jsonLine(""));
      // As upstream's gc: the driver is shut down afterwards, unmounting
      // whatever is still mounted.
      try {
        await store.shutdown({ force: true });
      } catch (err) {
        ctx.out.stderr(`shutdown: ${errorMessage(err)}\n`);
      }
      if (failure === undefined) return 0;
      ctx.out.stderr(`${errorMessage(failure)}\n`);
      return 1;
    },
  },
  {
    name: "check",
    description: "Check storage consistency",
    usage: "[options [...]]",
    minArgs: 0,
    maxArgs: 0,
    flags: [
      JSON_FLAG,
      {
        long: "max",
        short: "m",
        kind: "string",
        help: "Maximum allowed age for unreferenced layers",
        placeholder: "24h",
      },
      { long: "repair", short: "r", kind: "bool", help: "Remove damaged images and layers" },
      { long: "force", short: "f", kind: "bool", help: "Remove damaged containers" },
      { long: "quick", short: "q", kind: "bool", help: "Perform only quick checks" },
    ],
    run: async (ctx) => {
      const json = flagBool(ctx.flags, "json");
      const force = flagBool(ctx.flags, "force");
      const repair = force || flagBool(ctx.flags, "repair");
      let maxUnreferencedAge: number;
      try {
        maxUnreferencedAge = parseGoDuration(flagString(ctx.flags, "max") ?? "24h");
      } catch (err) {
        ctx.out.stderr(`${errorMessage(err)}\n`);
        return 1;
      }
      const store = await ctx.store();
      const options = { quick: flagBool(ctx.flags, "quick"), maxUnreferencedAge };
      const report = await checkStore(store, options, repair, (t) => ctx.out.stderr(t));
      if (json) ctx.out.stdout(reportJSON(report));
      else printReport((t) => ctx.out.stdout(t), report);
      if (!repair) {
        if (report.problems.length === 0) return 0;
        const n = counts(report.problems);
        ctx.out.stderr(
          `${n.Layers} layer errors, ${n.ROLayers} read-only layer errors, ${n.Images} image ` +
            `errors, ${n.ROImages} read-only image errors, ${n.Containers} container errors\n`,
        );
        return 1;
      }
      const result = await store.repair(report, { removeContainers: force });
      if (result.errors.length > 0) {
        if (json) ctx.out.stdout(jsonLine(result.errors));
        else ctx.out.stderr(result.errors.map((e) => `${e}\n`).join(""));
        ctx.out.stderr(`${result.errors[0]}\n`);
        return 1;
      }
      if (result.remaining.length > 0) {
        const n = counts(result.remaining);
        const containers = force ? "" : `, ${n.Containers} container errors`;
        ctx.out.stderr(
          `${n.ROLayers} read-only layer errors, ${n.ROImages} read-only image errors` +
            `${containers}\n`,
        );
        return 1;
      }
      return 0;
    },
  },
];
