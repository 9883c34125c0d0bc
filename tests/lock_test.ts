// Lock files: cross-process exclusion among cstor processes (with and without
// FFI) and against classic fcntl locks (python's lockf, as Go takes them),
// the last-write token, in-process semantics and failure cases.
//
// Ordering is asserted with marker files, not timings: a holder writes its
// marker just before it unlocks, so a waiter that finds the marker right
// after acquiring proves it did not get in while the holder held the lock.
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { getLockFile } from "../src/lock/lockfile.ts";
import { newLastWrite, sameLastWrite } from "../src/lock/last_write.ts";
import { RwMutex } from "../src/lock/rw_mutex.ts";
import { isStorageError } from "../src/errors.ts";

const HOLDER = new URL("./fixtures/lock_holder.ts", import.meta.url).pathname;
const WITH_FFI = ["-A"];
const WITHOUT_FFI = ["--allow-read", "--allow-write"];
const TIMEOUT_MS = 10_000;

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

async function withTimeout<T>(p: Promise<T>, what: string, ms = TIMEOUT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A child process whose stdout is read line by line and whose stderr is collected. */
class Child {
  readonly proc: Deno.ChildProcess;
  readonly stderr: Promise<string>;
  #reader: ReadableStreamDefaultReader<string>;
  #buf = "";
  #stdin: WritableStreamDefaultWriter<Uint8Array>;

  constructor(cmd: string, args: string[], env?: Record<string, string>) {
    this.proc = new Deno.Command(cmd, {
      args,
      env,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#reader = this.proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
    this.#stdin = this.proc.stdin.getWriter();
    this.stderr = new Response(this.proc.stderr).text();
  }

  /** The next stdout line (without newline), or null at end of output. */
  nextLine(): Promise<string | null> {
    return withTimeout(this.#next(), `a line from ${this.proc.pid}`);
  }

  async #next(): Promise<string | null> {
    for (;;) {
      const nl = this.#buf.indexOf("\n");
      if (nl >= 0) {
        const line = this.#buf.slice(0, nl);
        this.#buf = this.#buf.slice(nl + 1);
        return line;
      }
      const { value, done } = await this.#reader.read();
      if (done) {
        const rest = this.#buf;
        this.#buf = "";
        return rest === "" ? null : rest;
      }
      this.#buf += value;
    }
  }

  async expectLine(expected: string | RegExp): Promise<string> {
    const line = await this.nextLine();
    if (typeof expected === "string") assert.equal(line, expected);
    else assert.match(line ?? "<eof>", expected);
    return line!;
  }

  async send(line: string): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode(line + "\n"));
  }

  /** Waits for exit; returns the remaining stdout lines, stderr and exit code. */
  async finish(): Promise<{ lines: string[]; stderr: string; code: number }> {
    await this.#stdin.close().catch(() => {});
    const lines: string[] = [];
    for (let l = await this.nextLine(); l !== null; l = await this.nextLine()) lines.push(l);
    const status = await withTimeout(this.proc.status, "child exit");
    return { lines, stderr: await this.stderr, code: status.code };
  }

  kill(): void {
    try {
      this.proc.kill("SIGKILL");
    } catch { /* already gone */ }
  }
}

function holder(perms: string[], args: string[], env?: Record<string, string>): Child {
  return new Child(Deno.execPath(), ["run", ...perms, HOLDER, ...args], env);
}

/** Runs a child to completion, killing it if the body throws. */
async function using<T>(child: Child, body: (c: Child) => Promise<T>): Promise<T> {
  try {
    return await body(child);
  } catch (err) {
    child.kill();
    await child.finish().catch(() => {});
    throw err;
  }
}

async function python(script: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("python3", { args: ["-c", script, ...args] }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).trim();
}

// Classic (process-owned) POSIX record lock, the kind Go takes.
const PY_PROBE = `
import fcntl, sys
f = open(sys.argv[1], "r+")
kind = fcntl.LOCK_SH if sys.argv[2] == "shared" else fcntl.LOCK_EX
try:
    fcntl.lockf(f, kind | fcntl.LOCK_NB)
    print("acquired")
except OSError:
    print("blocked")
`;
const PY_HOLDER = `
import fcntl, sys, time
f = open(sys.argv[1], "r+")
fcntl.lockf(f, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(0.5)
open(sys.argv[2], "w").close()
fcntl.lockf(f, fcntl.LOCK_UN)
print("released", flush=True)
`;

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "cstor-lock-" });
}

function locksOn(path: string): string[] {
  const ino = Deno.statSync(path).ino;
  return Deno.readTextFileSync("/proc/locks").split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length > 5 && f[5].endsWith(`:${ino}`))
    .map((f) => `${f[1]} ${f[3]}`);
}

function openDescriptorsOf(path: string): number {
  let n = 0;
  for (const e of Deno.readDirSync("/proc/self/fd")) {
    try {
      if (Deno.readLinkSync(`/proc/self/fd/${e.name}`) === path) n++;
    } catch { /* closed while listing */ }
  }
  return n;
}

function assertLockFailed(err: unknown, path: string, problem: RegExp): true {
  assert.ok(isStorageError(err, "lock-failed"), `not a lock-failed StorageError: ${err}`);
  assert.ok(err.message.includes(path), `message does not name ${path}: ${err.message}`);
  assert.match(err.message, problem);
  return true;
}

Deno.test("lock: cstor processes exclude each other", async (t) => {
  const dir = await tempDir();
  let n = 0;
  const fresh = () => {
    n++;
    return { path: join(dir, `x${n}.lock`), marker: join(dir, `marker${n}`) };
  };

  for (const [name, perms] of [["with FFI", WITH_FFI], ["without FFI", WITHOUT_FFI]] as const) {
    await t.step(`exclusive blocks exclusive, child ${name}, parent with FFI`, async () => {
      const { path, marker } = fresh();
      const child = holder(perms, ["--path", path, "--hold", "500", "--marker", marker]);
      await using(child, async (c) => {
        await c.expectLine("locked");
        const lf = getLockFile(path);
        await withTimeout(lf.lock(), "parent lock");
        assert.ok(exists(marker), "parent got the lock while the child held it");
        lf.unlock();
        const end = await c.finish();
        assert.deepEqual(end.lines, ["released"]);
        assert.equal(end.code, 0);
        if (perms === WITH_FFI) assert.doesNotMatch(end.stderr, /warning/);
      });
    });
  }

  await t.step("exclusive blocks exclusive, two children without FFI", async () => {
    const { path, marker } = fresh();
    const a = holder(WITHOUT_FFI, ["--path", path, "--hold", "500", "--marker", marker]);
    await using(a, async () => {
      await a.expectLine("locked");
      const b = holder(WITHOUT_FFI, ["--path", path, "--check-marker", marker]);
      await using(b, async () => {
        await b.expectLine("locked marker=yes");
        assert.deepEqual((await b.finish()).lines, ["released"]);
      });
      assert.deepEqual((await a.finish()).lines, ["released"]);
    });
  });

  await t.step("exclusive blocks shared (parent holds, child waits)", async () => {
    const { path, marker } = fresh();
    const lf = getLockFile(path);
    await lf.lock();
    const child = holder(WITH_FFI, ["--path", path, "--mode", "shared", "--check-marker", marker]);
    await using(child, async (c) => {
      await new Promise((r) => setTimeout(r, 500));
      Deno.writeTextFileSync(marker, "");
      lf.unlock();
      await c.expectLine("locked marker=yes");
      assert.deepEqual((await c.finish()).lines, ["released"]);
    });
  });

  for (const [name, perms] of [["with FFI", WITH_FFI], ["without FFI", WITHOUT_FFI]] as const) {
    await t.step(`shared and shared hold together, child ${name}`, async () => {
      const { path } = fresh();
      const child = holder(perms, ["--path", path, "--mode", "shared", "--hold", "stdin"]);
      await using(child, async (c) => {
        await c.expectLine("locked");
        const lf = getLockFile(path);
        await withTimeout(lf.rLock(), "shared lock beside another reader");
        assert.equal(lf.held(), "shared");
        lf.unlock();
        await c.send("release");
        assert.deepEqual((await c.finish()).lines, ["released"]);
      });
    });

    await t.step(`shared blocks exclusive, child ${name}`, async () => {
      const { path, marker } = fresh();
      const child = holder(perms, [
        "--path",
        path,
        "--mode",
        "shared",
        "--hold",
        "500",
        "--marker",
        marker,
      ]);
      await using(child, async (c) => {
        await c.expectLine("locked");
        const lf = getLockFile(path);
        await withTimeout(lf.lock(), "exclusive after a reader");
        assert.ok(exists(marker), "writer got in while a reader held the lock");
        lf.unlock();
        assert.deepEqual((await c.finish()).lines, ["released"]);
      });
    });
  }

  await Deno.remove(dir, { recursive: true });
});

Deno.test("lock: classic fcntl locks (as Go takes them)", async (t) => {
  const dir = await tempDir();

  await t.step("python's lockf holder blocks a cstor writer with FFI", async () => {
    const path = join(dir, "py1.lock");
    const marker = join(dir, "py1.marker");
    const lf = getLockFile(path); // creates the file python opens
    const py = new Child("python3", ["-c", PY_HOLDER, path, marker]);
    await using(py, async () => {
      await py.expectLine("locked");
      await withTimeout(lf.lock(), "lock after python");
      assert.ok(exists(marker), "cstor got the lock while python held its fcntl lock");
      lf.unlock();
      assert.deepEqual((await py.finish()).lines, ["released"]);
    });
  });

  await t.step("a cstor holder with FFI blocks python's lockf", async () => {
    const path = join(dir, "py2.lock");
    const lf = getLockFile(path);
    await lf.lock();
    assert.equal(await python(PY_PROBE, path, "exclusive"), "blocked");
    assert.equal(await python(PY_PROBE, path, "shared"), "blocked");
    lf.unlock();
    await lf.rLock();
    assert.equal(await python(PY_PROBE, path, "exclusive"), "blocked");
    assert.equal(await python(PY_PROBE, path, "shared"), "acquired");
    lf.unlock();
    assert.equal(await python(PY_PROBE, path, "exclusive"), "acquired");
  });

  await t.step("a cstor child with FFI blocks python's lockf", async () => {
    const path = join(dir, "py3.lock");
    const child = holder(WITH_FFI, ["--path", path, "--hold", "stdin"]);
    await using(child, async (c) => {
      await c.expectLine("locked");
      assert.equal(await python(PY_PROBE, path, "exclusive"), "blocked");
      await c.send("release");
      assert.deepEqual((await c.finish()).lines, ["released"]);
    });
    assert.equal(await python(PY_PROBE, path, "exclusive"), "acquired");
  });

  await t.step("without FFI python is NOT excluded (hence the warning)", async () => {
    const path = join(dir, "py4.lock");
    const child = holder(WITHOUT_FFI, ["--path", path, "--hold", "stdin"]);
    await using(child, async (c) => {
      await c.expectLine("locked");
      assert.equal(await python(PY_PROBE, path, "exclusive"), "acquired");
      await c.send("release");
      const end = await c.finish();
      assert.deepEqual(end.lines, ["released"]);
      assert.match(end.stderr, /podman/);
    });
  });

  await Deno.remove(dir, { recursive: true });
});

Deno.test("lock: last-write token", async (t) => {
  const dir = await tempDir();

  await t.step("a never-written file gives an empty token", async () => {
    const lf = getLockFile(join(dir, "empty.lock"));
    await lf.rLock();
    assert.equal(lf.getLastWrite().length, 0);
    assert.deepEqual(lf.modifiedSince(new Uint8Array(0)).modified, false);
    lf.unlock();
  });

  for (const [name, perms] of [["with FFI", WITH_FFI], ["without FFI", WITHOUT_FFI]] as const) {
    await t.step(`a child's recordWrite (${name}) is seen through modifiedSince`, async () => {
      const path = join(dir, `seen-${perms.length}.lock`);
      const lf = getLockFile(path);
      await lf.rLock();
      const before = lf.getLastWrite();
      lf.unlock();

      const child = holder(perms, ["--path", path, "--record"]);
      const [written, pid] = await using(child, async (c) => {
        await c.expectLine("locked");
        const token = (await c.expectLine(/^token [0-9a-f]{128}$/)).slice(6);
        assert.deepEqual((await c.finish()).lines, ["released"]);
        return [token, c.proc.pid];
      });

      await lf.rLock();
      const { modified, current } = lf.modifiedSince(before);
      assert.equal(modified, true);
      assert.equal(hex(current), written);
      assert.equal(current.length, 64);
      const view = new DataView(current.buffer, current.byteOffset, current.byteLength);
      const nanos = view.getBigUint64(0, true);
      const wallMs = Number(nanos / 1_000_000n);
      assert.ok(Math.abs(wallMs - Date.now()) < 60_000, `time field ${nanos} is not now`);
      assert.ok(view.getBigUint64(8, true) >= 1n, "counter field");
      assert.equal(view.getUint32(16, true), pid, "pid field is the writer's pid");
      assert.equal(lf.modifiedSince(current).modified, false);
      lf.unlock();
    });
  }

  await t.step("the parent's recordWrite is read by a child without FFI", async () => {
    const path = join(dir, "parent.lock");
    const lf = getLockFile(path);
    await lf.lock();
    const token = lf.recordWrite();
    lf.unlock();
    const child = holder(WITHOUT_FFI, ["--path", path, "--mode", "shared", "--read-token"]);
    await using(child, async (c) => {
      await c.expectLine("locked");
      await c.expectLine(`token ${hex(token)}`);
      await c.finish();
    });
  });

  for (const [name, perms] of [["with FFI", WITH_FFI], ["without FFI", WITHOUT_FFI]] as const) {
    await t.step(`recordWrite (${name}) never truncates`, async () => {
      const path = join(dir, `long-${perms.length}.lock`);
      Deno.writeFileSync(path, new Uint8Array(100).fill(0xaa));
      const child = holder(perms, ["--path", path, "--record"]);
      const written = await using(child, async (c) => {
        await c.expectLine("locked");
        const token = (await c.expectLine(/^token /)).slice(6);
        await c.finish();
        return token;
      });
      const bytes = Deno.readFileSync(path);
      assert.equal(bytes.length, 100);
      assert.equal(hex(bytes.subarray(0, 64)), written);
      assert.ok(bytes.subarray(64).every((b) => b === 0xaa));
      const lf = getLockFile(path);
      await lf.rLock();
      assert.equal(hex(lf.getLastWrite()), written, "only the first 64 bytes are the token");
      lf.unlock();
    });
  }

  await t.step("token layout and equality", () => {
    const a = newLastWrite();
    const b = newLastWrite();
    assert.equal(a.length, 64);
    const va = new DataView(a.buffer, a.byteOffset, 64);
    const vb = new DataView(b.buffer, b.byteOffset, 64);
    assert.equal(vb.getBigUint64(8, true), va.getBigUint64(8, true) + 1n, "per-process counter");
    assert.equal(va.getUint32(16, true), Deno.pid);
    assert.ok(sameLastWrite(a, a.slice()));
    assert.ok(!sameLastWrite(a, b));
    assert.ok(!sameLastWrite(a, a.subarray(0, 63)), "length counts");
    assert.ok(sameLastWrite(new Uint8Array(0), new Uint8Array(0)));
  });

  await t.step("token operations need the right hold", async () => {
    const lf = getLockFile(join(dir, "holds.lock"));
    assert.throws(() => lf.getLastWrite(), (e) => assertLockFailed(e, lf.path, /held/));
    assert.throws(() => lf.recordWrite(), (e) => assertLockFailed(e, lf.path, /held/));
    await lf.rLock();
    assert.throws(() => lf.recordWrite(), (e) => assertLockFailed(e, lf.path, /exclusive/));
    lf.unlock();
  });

  await Deno.remove(dir, { recursive: true });
});

Deno.test("lock: in-process semantics", async (t) => {
  const dir = await tempDir();

  await t.step("one object per absolute path", () => {
    const path = join(dir, "same.lock");
    const lf = getLockFile(path);
    assert.equal(getLockFile(path), lf);
    assert.equal(getLockFile(relative(Deno.cwd(), path)), lf);
    assert.equal(getLockFile(join(dir, ".", "x", "..", "same.lock")), lf);
    assert.equal(lf.path, path);
  });

  await t.step("read-only and read-write objects for one path conflict", () => {
    const rw = join(dir, "rw.lock");
    const ro = join(dir, "ro.lock");
    getLockFile(rw);
    getLockFile(ro, { readOnly: true });
    assert.throws(
      () => getLockFile(rw, { readOnly: true }),
      (e) => assertLockFailed(e, rw, /read-write/),
    );
    assert.throws(() => getLockFile(ro), (e) => assertLockFailed(e, ro, /read-only/));
  });

  await t.step("read-only objects create the file, lock shared, refuse exclusive", async () => {
    const path = join(dir, "new-parent", "ro2.lock");
    const lf = getLockFile(path, { readOnly: true });
    assert.equal(lf.readOnly, true);
    assert.equal(Deno.statSync(join(dir, "new-parent")).mode! & 0o777, 0o700);
    assert.ok(Deno.statSync(path).isFile);
    await assert.rejects(lf.lock(), (e) => assertLockFailed(e, path, /read-only/));
    assert.equal(lf.held(), "none");
    await lf.rLock();
    assert.equal(lf.held(), "shared");
    assert.equal(lf.getLastWrite().length, 0);
    assert.deepEqual(locksOn(path).sort(), ["FLOCK READ", "OFDLCK READ"]);
    lf.unlock();
  });

  await t.step("creates a missing parent (0700) and the file (0644 less umask)", () => {
    const path = join(dir, "a", "b", "c.lock");
    getLockFile(path);
    assert.equal(Deno.statSync(join(dir, "a", "b")).mode! & 0o777, 0o700);
    assert.equal(Deno.statSync(path).mode! & 0o777 & ~0o644, 0);
  });

  await t.step("unlocking an unlocked object throws", async () => {
    const lf = getLockFile(join(dir, "unlocked.lock"));
    assert.throws(() => lf.unlock(), (e) => assertLockFailed(e, lf.path, /not held/));
    await lf.lock();
    lf.unlock();
    assert.throws(() => lf.unlock(), (e) => assertLockFailed(e, lf.path, /not held/));
  });

  await t.step("a queued writer gets in before a later reader", async () => {
    const lf = getLockFile(join(dir, "prefer.lock"));
    const events: string[] = [];
    await lf.rLock();
    const w = lf.lock().then(() => events.push("writer"));
    const r = lf.rLock().then(() => events.push("late reader"));
    await new Promise((res) => setTimeout(res, 50));
    assert.deepEqual(events, [], "nobody gets in while the first reader holds");
    lf.unlock();
    await w;
    assert.equal(lf.held(), "exclusive");
    await new Promise((res) => setTimeout(res, 20));
    assert.deepEqual(events, ["writer"]);
    lf.unlock();
    await r;
    assert.deepEqual(events, ["writer", "late reader"]);
    assert.equal(lf.held(), "shared");
    lf.unlock();
    assert.equal(lf.held(), "none");
  });

  await t.step("writers exclude each other in-process", async () => {
    const lf = getLockFile(join(dir, "ww.lock"));
    await lf.lock();
    let second = false;
    const p = lf.lock().then(() => (second = true));
    await new Promise((res) => setTimeout(res, 50));
    assert.equal(second, false);
    lf.unlock();
    await p;
    assert.equal(lf.held(), "exclusive");
    lf.unlock();
  });

  await t.step("many async readers share one file lock and one pair of descriptors", async () => {
    const lf = getLockFile(join(dir, "many.lock"));
    assert.equal(openDescriptorsOf(lf.path), 0, "nothing open while unlocked");
    await Promise.all(Array.from({ length: 20 }, () => lf.rLock()));
    assert.equal(lf.held(), "shared");
    assert.equal(openDescriptorsOf(lf.path), 2, "one FsFile plus one libc descriptor");
    assert.deepEqual(locksOn(lf.path).sort(), ["FLOCK READ", "OFDLCK READ"]);
    for (let i = 0; i < 19; i++) lf.unlock();
    assert.equal(lf.held(), "shared");
    assert.equal(locksOn(lf.path).length, 2);
    lf.unlock();
    assert.equal(lf.held(), "none");
    assert.equal(openDescriptorsOf(lf.path), 0, "descriptors closed at the last unlock");
    assert.deepEqual(locksOn(lf.path), []);
  });

  await t.step("an exclusive hold takes both file locks", async () => {
    const lf = getLockFile(join(dir, "both.lock"));
    await lf.lock();
    assert.deepEqual(locksOn(lf.path).sort(), ["FLOCK WRITE", "OFDLCK WRITE"]);
    lf.unlock();
  });

  await t.step("a deleted lock file is recreated on the next acquisition", async () => {
    const lf = getLockFile(join(dir, "deleted.lock"));
    Deno.removeSync(lf.path);
    await lf.lock();
    assert.ok(exists(lf.path));
    lf.recordWrite();
    lf.unlock();
    assert.equal(Deno.statSync(lf.path).size, 64);
  });

  await t.step(
    "a failed acquisition leaves every waiter released and the object usable",
    async () => {
      const lf = getLockFile(join(dir, "fails.lock"));
      Deno.removeSync(lf.path);
      Deno.mkdirSync(lf.path);
      const results = await Promise.allSettled([lf.rLock(), lf.rLock(), lf.lock()]);
      for (const r of results) {
        assert.equal(r.status, "rejected");
        assertLockFailed((r as PromiseRejectedResult).reason, lf.path, /is a directory/);
      }
      assert.equal(lf.held(), "none");
      Deno.removeSync(lf.path);
      await withTimeout(lf.lock(), "lock after failures");
      lf.unlock();
      await withTimeout(lf.rLock(), "rLock after failures");
      lf.unlock();
    },
  );

  await t.step("RwMutex: release errors and FIFO grants", async () => {
    const m = new RwMutex();
    assert.throws(() => m.unlock());
    assert.throws(() => m.rUnlock());
    const order: string[] = [];
    await m.lock();
    const a = m.rLock().then(() => order.push("r1"));
    const b = m.rLock().then(() => order.push("r2"));
    const c = m.lock().then(() => order.push("w"));
    const d = m.rLock().then(() => order.push("r3"));
    m.unlock();
    await Promise.all([a, b]);
    assert.deepEqual(m.state(), { readers: 2, writer: false, waiting: 2 });
    m.rUnlock();
    m.rUnlock();
    await c;
    m.unlock();
    await d;
    m.rUnlock();
    assert.deepEqual(order, ["r1", "r2", "w", "r3"]);
  });

  await Deno.remove(dir, { recursive: true });
});

Deno.test("lock: unusable lock paths fail with lock-failed", async (t) => {
  const dir = await tempDir();
  await Deno.chmod(dir, 0o755);

  await t.step("dangling symlink into a missing directory (Go loops forever)", () => {
    const path = join(dir, "dangling.lock");
    Deno.symlinkSync(join(dir, "missing", "dir", "target"), path);
    assert.throws(() => getLockFile(path), (e) => assertLockFailed(e, path, /dangling symlink/));
    assert.throws(
      () => getLockFile(path, { readOnly: true }),
      (e) => assertLockFailed(e, path, /dangling symlink/),
    );
  });

  await t.step(
    "dangling symlink into an existing directory: target created, as Go does",
    async () => {
      const path = join(dir, "link.lock");
      Deno.symlinkSync(join(dir, "target.lock"), path);
      const lf = getLockFile(path);
      assert.ok(Deno.statSync(join(dir, "target.lock")).isFile);
      await lf.lock();
      lf.unlock();
    },
  );

  await t.step("a directory", () => {
    const path = join(dir, "isdir.lock");
    Deno.mkdirSync(path);
    assert.throws(() => getLockFile(path), (e) => assertLockFailed(e, path, /is a directory/));
    assert.throws(
      () => getLockFile(path, { readOnly: true }),
      (e) => assertLockFailed(e, path, /is a directory/),
    );
  });

  await t.step("a file that cannot be opened (permission)", async () => {
    const path = join(dir, "noperm.lock");
    Deno.writeFileSync(path, new Uint8Array(0), { mode: 0o444 });
    await Deno.chmod(path, 0o444);
    if (Deno.uid() !== 0) {
      assert.throws(() => getLockFile(path), (e) => assertLockFailed(e, path, /permission denied/));
      return;
    }
    // root ignores file modes: ask an unprivileged child.
    const home = await Deno.makeTempDir({ prefix: "cstor-lock-home-" });
    await Deno.chmod(home, 0o777);
    try {
      const child = new Child("setpriv", [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        Deno.execPath(),
        "run",
        ...WITH_FFI,
        HOLDER,
        "--path",
        path,
      ], { DENO_DIR: join(home, "deno"), HOME: home });
      const end = await using(child, (c) => c.finish());
      assert.equal(end.code, 3, end.stderr);
      assert.equal(end.lines.length, 1);
      assert.match(end.lines[0], /^error lock-failed: /);
      assert.ok(end.lines[0].includes(JSON.stringify(path)));
      assert.match(end.lines[0], /cannot be opened: permission denied$/);
    } finally {
      await Deno.remove(home, { recursive: true });
    }
  });

  await t.step("no Deno write permission names the path too", async () => {
    const path = join(dir, "nowrite.lock");
    const child = holder(["--allow-read"], ["--path", path]);
    const end = await using(child, (c) => c.finish());
    assert.equal(end.code, 3, end.stderr);
    assert.match(end.lines[0], /^error lock-failed: /);
    assert.ok(end.lines[0].includes(JSON.stringify(path)));
    assert.match(end.lines[0], /--allow-write/);
  });

  await Deno.remove(dir, { recursive: true });
});

Deno.test("lock: the no-FFI warning is given once per process", async () => {
  const dir = await tempDir();
  const path = join(dir, "warn.lock");
  const child = holder(WITHOUT_FFI, ["--path", path, "--times", "2"]);
  const end = await using(child, (c) => c.finish());
  assert.deepEqual(end.lines, ["locked", "released", "locked", "released"]);
  const warnings = end.stderr.split("\n").filter((l) => l.includes("warning"));
  assert.equal(warnings.length, 1, end.stderr);
  assert.match(warnings[0], /containers-storage/);
  assert.match(warnings[0], /podman/);
  assert.match(warnings[0], /--allow-ffi/);
  await Deno.remove(dir, { recursive: true });
});
