/**
 * The table: medians over repetitions per metric and side, ratios, and the
 * issue's targets with whether each holds.
 *
 * @module
 */

import type { BenchContext, Sample } from "./context.ts";
import { fmt, max, median } from "./stats.ts";

/** Medians over repetitions, by `metric` then side. */
export type Medians = Record<string, Record<string, number>>;

/** Groups samples and takes the median per metric and side. */
export function medians(samples: readonly Sample[]): Medians {
  const groups: Record<string, Record<string, number[]>> = {};
  for (const s of samples) {
    ((groups[s.metric] ??= {})[s.side] ??= []).push(s.value);
  }
  const out: Medians = {};
  for (const [metric, sides] of Object.entries(groups)) {
    out[metric] = {};
    for (const [side, values] of Object.entries(sides)) {
      // Peaks and waits are about the worst case; everything else the typical one.
      const worst = metric.startsWith("peak.") || metric === "reader_wait" ||
        metric === "reader_wait.lock";
      out[metric][side] = worst ? max(values) : median(values);
    }
  }
  return out;
}

/** One line of the table. */
export interface Row {
  workload: string;
  unit: string;
  cstor: string;
  go: string;
  reference: string;
  ratio: string;
  target: string;
  /** "yes", "no" or "n/a". */
  holds: string;
}

type Verdict = { target: string; holds: string };

function verdict(parts: Array<[string, number, number]>): Verdict {
  // [label, value, limit]: holds when value <= limit for all; missing values give n/a.
  if (parts.some(([, v]) => !Number.isFinite(v))) {
    return { target: parts.map(([l, , lim]) => `${l} ≤ ${lim}`).join(", "), holds: "n/a" };
  }
  const ok = parts.every(([, v, lim]) => v <= lim);
  return {
    target: parts.map(([l, v, lim]) => `${l} ${fmt(v)} ≤ ${lim}`).join("; "),
    holds: ok ? "yes" : "no",
  };
}

/** Builds the rows from medians; `floorDiff` is Deno's startup floor less Go's (ms). */
export function rows(m: Medians, ctx: BenchContext): Row[] {
  const get = (metric: string, side: string): number => m[metric]?.[side] ?? NaN;
  const floorDiff = get("floor", "deno-hello") - get("floor", "go-version");
  const out: Row[] = [];
  const add = (
    workload: string,
    unit: string,
    metric: string,
    reference: string,
    v: Verdict,
  ): void => {
    const c = get(metric, "cstor");
    const g = get(metric, "go");
    out.push({
      workload,
      unit,
      cstor: fmt(c),
      go: fmt(g),
      reference,
      ratio: fmt(c / g),
      ...v,
    });
  };
  const c = ctx.corpus;
  const size = `${Math.round(c.tarBytes / 2 ** 20)} MiB, ${c.files + c.dirs + c.symlinks} entries`;
  for (const kind of ["tar", "gz"]) {
    const metric = `apply.${kind}`;
    const t = get(metric, "tar");
    const cs = get(metric, "cstor");
    add(
      `applydiff ${kind === "tar" ? "tar" : "tar.gz"} (${size})`,
      "s",
      metric,
      `tar -x ${fmt(t)} s`,
      verdict([["cstor/Go", cs / get(metric, "go"), 1.0], ["cstor/tar", cs / t, 1.5]]),
    );
  }
  add(
    "applydiff tar, overlay",
    "s",
    "apply.overlay.tar",
    "",
    verdict([[
      "cstor/Go",
      get("apply.overlay.tar", "cstor") / get("apply.overlay.tar", "go"),
      1.0,
    ]]),
  );
  // The worst apply of each side (NaN-free: a missing driver leaves its entry out).
  const worst = (side: string): number =>
    Math.max(
      ...["peak.tar", "peak.gz", "peak.overlay.tar"].map((m) => get(m, side)).filter(
        Number.isFinite,
      ),
    );
  const peak = worst("cstor");
  out.push({
    workload: "applydiff peak memory (VmHWM, worst of tar, tar.gz, overlay)",
    unit: "MiB",
    cstor: fmt(peak),
    go: fmt(worst("go")),
    reference: `tar -x ${fmt(worst("tar"))} MiB`,
    ratio: fmt(peak / worst("go")),
    ...verdict([["cstor", peak, 150]]),
  });
  add(
    "diff -u of that layer (SHA-256 = input)",
    "s",
    "diff.tar",
    "",
    verdict([["cstor/Go", get("diff.tar", "cstor") / get("diff.tar", "go"), 1.0]]),
  );
  const hello = get("floor", "deno-hello");
  add(
    "status, empty store (per call)",
    "ms",
    "status",
    `deno hello ${fmt(hello)} ms, Go version ${fmt(get("floor", "go-version"))} ms`,
    verdict([["cstor/hello", get("status", "cstor") / hello, 1.5]]),
  );
  // Per-call workloads are judged with the difference of the two startup floors taken off.
  const perCall = (workload: string, metric: string, calls: number): void => {
    const adj = (get(metric, "cstor") - calls * floorDiff) / get(metric, "go");
    add(workload, "ms", metric, "", verdict([["adjusted", adj, 1.0]]));
  };
  const cfg = ctx.config;
  perCall(`create-layer in a ${cfg.chainLength}-layer chain (per call)`, "chain.create", 1);
  perCall(`layers, ${cfg.chainLength}-layer chain`, "chain.layers", 1);
  perCall(`layers, ${cfg.listLayers} layers + ${cfg.listImages} images`, "list.layers", 1);
  perCall(`layers --json, same store`, "list.layers_json", 1);
  perCall(`images, same store`, "list.images", 1);
  perCall("mount+unmount cycle, vfs", "mount.vfs", 2);
  perCall("mount+unmount cycle, overlay", "mount.overlay", 2);
  const total = cfg.createWorkers * cfg.createsPerWorker;
  // The extra start-up CPU of all calls, spread over the cores the workers can use.
  const lanes = Math.min(cfg.createWorkers, navigator.hardwareConcurrency);
  const adjCreate = (get("create.concurrent", "cstor") -
    total * floorDiff / 1000 / lanes) / get("create.concurrent", "go");
  const presentC = get("create.present", "cstor");
  const presentG = get("create.present", "go");
  add(
    `${cfg.createWorkers}×${cfg.createsPerWorker} create-layer at once (wall)`,
    "s",
    "create.concurrent",
    `present: cstor ${fmt(presentC)}/${total}, Go ${fmt(presentG)}/${total}`,
    {
      target: `${fmt(presentC)}/${total} present; adjusted ${fmt(adjCreate)} ≤ 1`,
      holds: !Number.isFinite(presentC)
        ? "n/a"
        : presentC === total && adjCreate <= 1
        ? "yes"
        : "no",
    },
  );
  add(
    "reader wait: longest `layers` during applydiff, less idle call",
    "ms",
    "reader_wait",
    `lock probe: cstor ${fmt(get("reader_wait.lock", "cstor"))} ms, Go ${
      fmt(get("reader_wait.lock", "go"))
    } ms`,
    verdict([["cstor", get("reader_wait", "cstor"), 50]]),
  );
  return out;
}

/** The table as Markdown. */
export function markdown(table: readonly Row[]): string {
  const head =
    "| Workload | unit | cstor | Go | reference | cstor/Go | target (measured) | holds |";
  const sep = "|---|---|--:|--:|---|--:|---|---|";
  const lines = table.map((r) =>
    `| ${r.workload} | ${r.unit} | ${r.cstor} | ${r.go} | ${r.reference} | ${r.ratio} | ${r.target} | ${r.holds} |`
  );
  return [head, sep, ...lines].join("\n");
}
