/**
 * cstor → store → podman: an image cstor imported runs under podman.
 * Needs root, podman and runc; uses the overlay driver when cstor can open
 * an overlay store here, else vfs (the test name says which).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { cli, isRoot, run, testIf } from "./helpers.ts";
import { openStore } from "../src/store.ts";
import { buildSampleImage } from "../demo/sample_image.ts";

function have(cmd: string): boolean {
  try {
    return new Deno.Command(cmd, { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

const READY = isRoot() && have("podman") && have("runc");
const WHY = "needs root, podman and runc";

/** The driver to test with: overlay when cstor can open an overlay store here. */
async function pickDriver(): Promise<string> {
  if (!READY) return "overlay";
  const dir = await Deno.makeTempDir({ prefix: "cstor-probe-" });
  try {
    const store = await openStore({
      graphRoot: join(dir, "g"),
      runRoot: join(dir, "r"),
      driver: "overlay",
    });
    await store.shutdown({ force: true });
    return "overlay";
  } catch {
    return "vfs";
  } finally {
    await unmountUnder(dir);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Unmounts whatever is still mounted under `dir` (podman and overlay leave mounts), deepest first. */
async function unmountUnder(dir: string): Promise<void> {
  const mounts = (await Deno.readTextFile("/proc/mounts")).split("\n")
    .map((l) => l.split(" ")[1] ?? "")
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await run("umount", ["-l", m]);
}

const DRIVER = await pickDriver();

testIf(
  READY,
  WHY,
  `cstor → store → podman: podman runs a cstor-imported image (${DRIVER})`,
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "cstor-podman-" });
    const graph = join(dir, "graph");
    const runRoot = join(dir, "run");
    const podman = (args: string[]) =>
      run("podman", [
        "--root",
        graph,
        "--runroot",
        runRoot,
        "--storage-driver",
        DRIVER,
        "--cgroup-manager",
        "cgroupfs",
        "--runtime",
        "runc",
        "--events-backend",
        "none",
        ...args,
      ], { env: { CONTAINERS_STORAGE_CONF: join(dir, "storage.conf") } });
    try {
      // Only what is given here: no storage.conf of the machine (mount_program, options) applies.
      await Deno.writeTextFile(
        join(dir, "storage.conf"),
        `[storage]\ndriver = "${DRIVER}"\ngraphroot = "${graph}"\nrunroot = "${runRoot}"\n`,
      );
      const layout = join(dir, "layout");
      const built = await buildSampleImage(layout, [
        { programs: ["/bin/sh", "/usr/bin/cat"] },
        { files: { "/etc/hello.txt": "hello from a cstor image\n" } },
      ], { ref: "v1", runConfig: { Cmd: ["/bin/sh"], Env: ["PATH=/usr/bin:/bin"] } });
      const flags = ["--graph", graph, "--run", runRoot, "--storage-driver", DRIVER];
      const r = await cli([...flags, "import", `oci:${layout}:v1`, "localhost/cstor-podman:1"]);
      assert.equal(r.code, 0, r.stderr);
      const id = built.configDigest.slice(7);

      const images = await podman([
        "images",
        "--no-trunc",
        "--format",
        "{{.ID}} {{.Repository}}:{{.Tag}}",
      ]);
      assert.equal(images.code, 0, images.stderr);
      assert.match(images.stdout, new RegExp(`(sha256:)?${id} localhost/cstor-podman:1`));

      const out = await podman([
        "run",
        "--rm",
        "--network",
        "none",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
        "localhost/cstor-podman:1",
        "/bin/sh",
        "-c",
        "cat /etc/hello.txt; echo ran in $0",
      ]);
      assert.equal(out.code, 0, out.stderr);
      assert.equal(out.stdout, "hello from a cstor image\nran in /bin/sh\n");

      // The store is still cstor's to read after podman used it.
      const after = await cli([...flags, "images"]);
      assert.match(after.stdout, new RegExp(`^${id}\n\tname: localhost/cstor-podman:1\n`));
    } finally {
      await podman(["rm", "--all", "--force"]).catch(() => {});
      await unmountUnder(dir);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);
