/**
 * Crash safety by fault injection: real cstor processes are SIGKILLed at
 * random moments while they create, import, apply to, rename and delete
 * layers, and create images and write their data; and, deterministically,
 * each operation dies right after each of its renames and removals (the
 * steps that change what is on disk). After every kill a fresh
 * process checks the store; the test then compares every record with what
 * it was before the kill: records the killed operation did not target must
 * be byte-identical, and its target must be either entirely as before or
 * entirely as the operation leaves it. The only leftovers allowed are the
 * killed creation's own files that never got a record, which gc removes.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  cstorProcess,
  DENO,
  overlayUnavailable,
  ROOT,
  run,
  type TempStore,
  tempStore,
  testIf,
} from "./helpers.ts";
import { baseEntries, childEntries, firstLine, ok, tarBytes } from "./fixtures/robustness/util.ts";
import {
  checkFresh,
  type Fixture,
  type Kind,
  KINDS,
  MAX_BIG,
  pick,
  plan,
  type Planned,
  readState,
  sha,
  verify,
} from "./fixtures/robustness/crash_model.ts";

/** Kills each kind must see per stream; two streams run side by side. */
const KILLS_PER_KIND = 8;
/** A stream stops after this long even if its quota is not reached (the assertion then fails). */
const TIME_CAP_MS = 100_000;

/** Runs the CLI as a real process and SIGKILLs it after `delay` ms unless it finished. */
async function runAndKill(
  s: TempStore,
  p: Planned,
  delay: number,
): Promise<{ killed: boolean; code: number; stderr: string }> {
  const child = new Deno.Command(DENO, {
    args: ["run", "--no-check", "-A", join(ROOT, "cli.ts"), ...s.flags, ...p.args],
    stdin: p.stdin ? "piped" : "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  if (p.stdin) {
    const w = child.stdin.getWriter();
    w.write(p.stdin).then(() => w.close()).catch(() => {});
  }
  const timer = Number.isFinite(delay)
    ? setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, delay)
    : undefined;
  const out = await child.output();
  clearTimeout(timer);
  return {
    killed: out.signal === "SIGKILL",
    code: out.code,
    stderr: new TextDecoder().decode(out.stderr),
  };
}

async function stream(fx: Fixture, startup: number, durations: Map<Kind, number>) {
  const s = await tempStore();
  const kills = new Map<Kind, number>(KINDS.map((k) => [k, 0]));
  const started = Date.now();
  let n = 0;
  const leftovers = new Set<string>();
  try {
    let state = await readState(s);
    while (
      [...kills.values()].some((k) => k < KILLS_PER_KIND) && Date.now() - started < TIME_CAP_MS
    ) {
      n++;
      const wanted = KINDS.filter((k) => kills.get(k)! < KILLS_PER_KIND);
      let p = plan(pick(wanted), state, fx, n);
      let setup = false;
      if (p === undefined) {
        // The kind cannot run now (too many big layers, nothing to delete
        // or apply to): make room with a step that is left to finish.
        const bigs = [...state.layers.values()].filter((l) => l["diff-digest"] === fx.bigDigest);
        p = plan(bigs.length >= MAX_BIG ? "delete-layer" : "create-layer", state, fx, n);
        setup = true;
      }
      if (p === undefined) continue;
      const low = startup * 0.7;
      const high = Math.max(startup * 1.6, durations.get(p.kind)!);
      const r = await runAndKill(s, p, setup ? Infinity : low + Math.random() * (high - low));
      if (!r.killed) assert.equal(r.code, 0, `${p.args.join(" ")}: ${r.stderr}`);
      if (r.killed) kills.set(p.kind, kills.get(p.kind)! + 1);
      const contents = p.kind === "import-layer" || p.kind === "applydiff";
      // A creation killed between moving its directory into place and
      // writing its record leaves the directory (and tar-split): gc's job.
      if (r.killed && (p.kind === "create-layer" || p.kind === "import-layer")) {
        leftovers.add(p.target);
      }
      const problems = await checkFresh(s, !contents, leftovers);
      assert.deepEqual(
        problems,
        [],
        `after ${r.killed ? "killing" : "running"} ${p.args.join(" ")}`,
      );
      const after = await readState(s);
      verify(state, after, p, r.killed);
      state = after;
      if (n % 25 === 0) {
        await gcAndCheck(s);
        leftovers.clear();
      }
    }
    await gcAndCheck(s);
    // A write to each store cleans the temporary files killed writers left.
    const layer = await cstorProcess([...s.flags, "create-layer", "-n", "last"]);
    assert.equal(layer.code, 0, layer.stderr);
    const image = await cstorProcess([...s.flags, "create-image", "-n", "last", "last"]);
    assert.equal(image.code, 0, image.stderr);
    for (const dir of [`${s.driver}-layers`, `${s.driver}-images`]) {
      for await (const e of Deno.readDir(join(s.graph, dir))) {
        assert.ok(!e.name.startsWith(".tmp-"), `${dir}/${e.name} left behind`);
      }
    }
    return kills;
  } finally {
    await s.cleanup();
  }
}

/** gc removes what the kills left; then a full check finds nothing at all. */
async function gcAndCheck(s: TempStore): Promise<void> {
  const gc = await cstorProcess([...s.flags, "gc"]);
  assert.equal(gc.code, 0, gc.stderr);
  assert.deepEqual(await checkFresh(s, false, new Set()), []);
  const staging = join(s.graph, s.driver, "cstor-staging");
  const left = await Array.fromAsync(Deno.readDir(staging)).catch(() => []);
  assert.deepEqual(left, [], "gc left staging directories of killed processes");
}

Deno.test("SIGKILL at random moments never loses a committed record or leaves a damaged one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cstor-crash-" });
  try {
    // ~6 MB in 600 files: extraction takes long enough to be hit mid-way.
    const entries = [];
    for (let d = 0; d < 20; d++) {
      for (let f = 0; f < 30; f++) {
        entries.push({
          name: `d${d}/f${f}`,
          content: crypto.getRandomValues(new Uint8Array(10000)),
        });
      }
    }
    const bigBytes = await tarBytes(entries);
    const big = join(dir, "big.tar");
    await Deno.writeFile(big, bigBytes);
    const data = [new Uint8Array(3), crypto.getRandomValues(new Uint8Array(65536))];
    data.push(new Uint8Array(2 << 20).fill(7));
    const fx: Fixture = { big, bigDigest: sha(bigBytes), small: new Uint8Array(), data };

    // How long a do-nothing process and each operation take here, so the
    // kills land while the work is being done rather than while Deno starts.
    const probe = await tempStore();
    const durations = new Map<Kind, number>();
    let startup = 0;
    try {
      const t0 = performance.now();
      await cstorProcess([...probe.flags, "version"]);
      startup = performance.now() - t0;
      for (const k of KINDS) durations.set(k, startup * 1.6);
      const t1 = performance.now();
      const imp = await cstorProcess([...probe.flags, "import-layer", "-f", big]);
      assert.equal(imp.code, 0, imp.stderr);
      durations.set("import-layer", performance.now() - t1);
      durations.set("applydiff", (performance.now() - t1) * 1.2);
      durations.set("set-image-data", startup * 2.5);
    } finally {
      await probe.cleanup();
    }

    const results = await Promise.all([
      stream(fx, startup, durations),
      stream(fx, startup, durations),
    ]);
    const total = new Map<Kind, number>(KINDS.map((k) => [k, 0]));
    for (const r of results) for (const [k, v] of r) total.set(k, total.get(k)! + v);
    const sum = [...total.values()].reduce((a, b) => a + b, 0);
    console.log(`kills: ${sum} (${[...total].map(([k, v]) => `${k} ${v}`).join(", ")})`);
    assert.ok(sum >= 100, `only ${sum} kills: ${JSON.stringify([...total])}`);
    for (const [k, v] of total) assert.ok(v >= 2 * KILLS_PER_KIND, `${k}: only ${v} kills`);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

const DIE_AFTER = join(ROOT, "tests", "fixtures", "robustness", "die_after.ts");

/** Runs the CLI so that it dies right after its `k`-th rename or removal (0: never); returns stderr. */
async function dieAfter(
  s: TempStore,
  p: Planned,
  k: number,
): Promise<{ code: number; err: string }> {
  const r = await run(DENO, [
    "run",
    "--no-check",
    "-A",
    DIE_AFTER,
    String(k),
    ...s.flags,
    ...p.args,
  ], {
    stdin: p.stdin ?? new Uint8Array(),
  });
  return { code: r.code, err: r.stderr };
}

/** Every operation dies after each of its renames and removals in turn, on one driver. */
async function dyingSteps(t: Deno.TestContext, driver: string): Promise<void> {
  // A template store with something for every operation to work on.
  const template = await tempStore(driver);
  const small = await tarBytes(childEntries());
  const tarPath = join(template.dir, "layer.tar");
  await Deno.writeFile(tarPath, small);
  const fx: Fixture = {
    big: tarPath,
    bigDigest: sha(small),
    small,
    data: [new TextEncoder().encode("replaced content, another size")],
  };
  try {
    const f = template.flags;
    const base = firstLine(await ok([...f, "import-layer"], await tarBytes(baseEntries())));
    await ok([...f, "create-layer", "-n", "leaf", base]);
    const image = firstLine(await ok([...f, "create-image", "-n", "img", base]));
    for (const key of ["manifest", "config", "sig-1"]) {
      await ok([...f, "set-image-data", image, key], `original ${key}`);
    }
    const state = await readState(template);
    for (const kind of KINDS) {
      await t.step(kind, async () => {
        // applydiff and delete-layer pick among leaves: only "leaf" qualifies.
        const p = plan(kind, state, fx, 1)!;
        const copy = async () => {
          const s = await tempStore(driver);
          await Deno.mkdir(s.dir, { recursive: true });
          const cp = await run("cp", ["-a", template.graph, template.run, s.dir]);
          assert.equal(cp.code, 0, cp.stderr);
          return s;
        };
        const probe = await copy();
        let steps: number;
        try {
          const r = await dieAfter(probe, p, 0);
          assert.equal(r.code, 0, r.err);
          steps = r.err.split("\n").filter((l) => l.startsWith("step ")).length;
        } finally {
          await probe.cleanup();
        }
        assert.ok(steps >= 1, `${kind}: no steps`);
        for (let k = 1; k <= steps; k++) {
          const s = await copy();
          try {
            const r = await dieAfter(s, p, k);
            assert.equal(r.code, 137, `${kind} did not die at step ${k}: ${r.err}`);
            const leftovers = new Set(
              kind === "create-layer" || kind === "import-layer" ? [p.target] : [],
            );
            const problems = await checkFresh(s, false, leftovers);
            assert.deepEqual(problems, [], `${kind} died after step ${k} of ${steps}`);
            verify(state, await readState(s), p, true);
          } finally {
            await s.cleanup();
          }
        }
      });
    }
  } finally {
    await template.cleanup();
  }
}

Deno.test("dying right after any rename or removal of an operation never leaves damage", (t) =>
  dyingSteps(t, "vfs"));

const noOverlay = await overlayUnavailable();
testIf(
  noOverlay === "",
  noOverlay,
  "overlay: dying right after any rename or removal of an operation never leaves damage",
  (t) => dyingSteps(t, "overlay"),
);
