/**
 * The benchmark suite still works: its quick variant (tiny sizes, one
 * repetition) runs every workload against both CLIs and writes a table
 * whose correctness checks passed. Timings are not judged here.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT } from "./helpers.ts";
import { parseOptions } from "../bench/main.ts";

const haveGo = await Deno.stat("/usr/bin/containers-storage").then(() => true, () => false);

Deno.test("bench: options parse", () => {
  const o = parseOptions(["--quick", "--reps", "2", "--only", "apply,startup", "--out", "/x.json"]);
  assert.equal(o.quick, true);
  assert.equal(o.reps, 2);
  assert.deepEqual(o.only, ["apply", "startup"]);
  assert.equal(o.out, "/x.json");
  assert.equal(parseOptions([], { quick: "1" }).quick, true);
  assert.throws(() => parseOptions(["--only", "nope"]), /unknown workload/);
});

Deno.test({
  name: haveGo ? "bench: quick suite runs end to end" : "bench: quick suite (skipped: no Go CLI)",
  ignore: !haveGo,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cstor-bench-test-" });
    try {
      const out = join(dir, "quick.json");
      const r = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", join(ROOT, "bench", "main.ts"), "--quick", "--out", out],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(r.stdout);
      const stderr = new TextDecoder().decode(r.stderr);
      assert.equal(r.code, 0, `bench failed:\n${stdout}\n${stderr}`);
      const result = JSON.parse(await Deno.readTextFile(out));
      assert.deepEqual(result.failures, []);
      for (
        const metric of [
          "apply.tar",
          "apply.gz",
          "diff.tar",
          "status",
          "chain.create",
          "list.layers",
          "list.layers_json",
          "list.images",
          "mount.vfs",
          "create.concurrent",
          "reader_wait.lock",
        ]
      ) {
        for (const side of ["cstor", "go"]) {
          assert.ok(Number.isFinite(result.medians[metric]?.[side]), `${metric} ${side}`);
        }
      }
      const { createWorkers, createsPerWorker } = result.config;
      assert.equal(result.medians["create.present"].cstor, createWorkers * createsPerWorker);
      assert.ok(Number.isFinite(result.medians["apply.tar"].tar));
      assert.match(stdout, /\| Workload \|/);
      // Nothing of the scratch filesystem is left mounted.
      const mounts = await Deno.readTextFile("/proc/self/mountinfo").catch(() => "");
      assert.ok(!mounts.includes(result.scratchDir), `${result.scratchDir} is still mounted`);
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
