// Tests for src/config.ts: storage.conf parsing, search order, rootless
// defaults, and equality with the Go `containers-storage` tool where present.

import assert from "node:assert/strict";
import * as path from "node:path";
import {
  type ConfigEnvironment,
  type ConfigPaths,
  loadStoreConfig,
  parseRemap,
  parseStorageConf,
  type StoreConfig,
  systemDefaults,
  systemEnvironment,
} from "../src/config.ts";
import { expandConfigPath, expandEnv } from "../src/config_defaults.ts";
import { cleanPath } from "../src/path.ts";
import { isStorageError } from "../src/errors.ts";

function fakeEnv(vars: Record<string, string>, euid = 0): ConfigEnvironment {
  return { get: (name) => vars[name], euid };
}

/** A temp dir with a fake system config location; removed after `fn`. */
async function withTemp(fn: (dir: string, paths: ConfigPaths) => Promise<void>): Promise<void> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "cstor-config-" }));
  const paths: ConfigPaths = {
    systemConfigPaths: [`${dir}/etc.conf`, `${dir}/usr.conf`],
    subuidPath: `${dir}/subuid`,
    subgidPath: `${dir}/subgid`,
    passwdPath: `${dir}/passwd`,
  };
  try {
    await fn(dir, paths);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function rejectsConfig(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isStorageError(err, "config"), `not a config error: ${err}`);
    assert.match((err as Error).message, pattern);
    return true;
  });
}

// ---------------------------------------------------------------- parsing

Deno.test("parseStorageConf reads known keys, case-insensitively", () => {
  const conf = parseStorageConf(
    `[STORAGE]\nDriver = "overlay"\ngraphroot = "/g"\ntransient_store = true\n` +
      `driver_priority = ["vfs"]\n[storage.options]\nforce_mask = 0o755\n` +
      `pull_options = { enable_partial_images = "false" }\n[storage.options.overlay]\nmountopt = "nodev"\n`,
    "/x.conf",
  );
  assert.equal(conf.storage.driver, "overlay");
  assert.equal(conf.storage.graphroot, "/g");
  assert.equal(conf.storage.transient_store, true);
  assert.deepEqual(conf.storage.driver_priority, ["vfs"]);
  assert.equal(conf.storage.options?.force_mask, 0o755);
  assert.deepEqual({ ...conf.storage.options?.pull_options }, { enable_partial_images: "false" });
  assert.equal(conf.storage.options?.overlay?.mountopt, "nodev");
  assert.deepEqual(conf.warnings, []);
});

Deno.test("parseStorageConf warns about unknown keys like Go", () => {
  const conf = parseStorageConf(
    `[storage]\nfoo = 1\n[storage.options]\ninodes = "1"\n[other]\nz = 1\n`,
    "/x.conf",
  );
  assert.deepEqual(conf.warnings, [
    'Failed to decode the keys ["storage.foo" "storage.options.inodes" "other" "other.z"] from "/x.conf"',
  ]);
});

Deno.test("parseStorageConf names file and line for bad TOML and bad types", () => {
  const cases: [string, RegExp][] = [
    [`[storage]\ndriver = "a"\ndriver = "b"\n`, /^\/x\.conf: toml: line 3: /],
    [`[storage]\nrunroot = \n`, /^\/x\.conf: toml: line 2: /],
    [
      `[storage]\ndriver="vfs"\n\n[storage.options]\nignore_chown_errors = true\n`,
      /^\/x\.conf: toml: line 5 \(last key "storage\.options\.ignore_chown_errors"\): incompatible types: TOML value has type bool; destination has type string$/,
    ],
    [
      `[storage.options]\npull_options = {a = 1}\n`,
      /line 2 \(last key "storage\.options\.pull_options\.a"\): incompatible types: TOML value has type int64/,
    ],
    [`[storage.options]\nauto-userns-min-size = -1\n`, /line 2 .*-1 is out of range for uint32$/],
    [`[storage.options]\nforce_mask = 1.0\n`, /has type float64; destination has type integer$/],
    [`[storage.options]\nadditionalimagestores = "/x"\n`, /destination has type slice$/],
    [`[storage]\noptions = 1\n`, /line 2 .*destination has type struct$/],
  ];
  for (const [text, pattern] of cases) {
    assert.throws(() => parseStorageConf(text, "/x.conf"), (err: unknown) => {
      assert.ok(isStorageError(err, "config"));
      assert.match((err as Error).message, pattern);
      return true;
    });
  }
});

Deno.test("parseRemap accepts colon-joined triples and rejects the rest", () => {
  assert.deepEqual(parseRemap("0:100000:1000:1000:300000:5", "remap-uids"), [
    { container_id: 0, host_id: 100000, size: 1000 },
    { container_id: 1000, host_id: 300000, size: 5 },
  ]);
  assert.deepEqual(parseRemap("", "remap-uids"), []);
  for (const bad of ["0:1", "0:1:x", "0:1:5,7:8:9", "0:1:4294967296", "-1:0:1"]) {
    assert.throws(() => parseRemap(bad, "remap-gids"), (err: Error) => {
      assert.equal(
        err.message,
        `initializing ID mappings: remap-gids setting is malformed expected ["uint32:uint32:uint32"]: ["${bad}"]`,
      );
      return true;
    });
  }
});

Deno.test("expandEnv follows Go's os.ExpandEnv", () => {
  const env = fakeEnv({ A: "x", B: "y" });
  // Unset and special names expand to "", a lone "$" stays, "${}" and an
  // unclosed "${" are dropped.
  assert.equal(expandEnv("$A/${B}/$C/$$/$1/$/${}/${A", env), "x/y////$//A");
  assert.equal(expandEnv("end$", env), "end$");
  assert.equal(cleanPath("/a//b/./c/../d/"), "/a/b/d");
});

Deno.test("expandConfigPath replaces $UID, expands, resolves symlinks or cleans", async () => {
  await withTemp(async (dir) => {
    await Deno.mkdir(`${dir}/real/g`, { recursive: true });
    await Deno.symlink(`${dir}/real`, `${dir}/link`);
    const env = fakeEnv({ D: dir });
    assert.equal(await expandConfigPath("$D/link/g/", 7, env), `${dir}/real/g`);
    assert.equal(await expandConfigPath("$D/link/$UID/x/../y", 7, env), `${dir}/link/7/y`);
    assert.equal(await expandConfigPath("rel/x", 7, env), path.resolve("rel/x"));
  });
});

// ---------------------------------------------------------------- rootful

Deno.test("driver options: generic first with raw driver prefix, then driver table", async () => {
  await withTemp(async (dir, paths) => {
    const file = `${dir}/s.conf`;
    await Deno.writeTextFile(
      file,
      `[storage]\ndriver = "overlay2"\ngraphroot = "${dir}/g"\nrunroot = "${dir}/r"\n` +
        `[storage.options]\nadditionalimagestores = ["/s1", "/s2"]\nadditionallayerstores = ["/l:ref"]\n` +
        `size = "1G"\nmountopt = "generic"\nforce_mask = 0o700\n` +
        `[storage.options.overlay]\nmountopt = "nodev"\ninodes = "5"\n`,
    );
    const config = await loadStoreConfig(fakeEnv({ CONTAINERS_STORAGE_CONF: file }), paths);
    assert.equal(config.driver, "overlay");
    assert.deepEqual(config.driverOptions, [
      "overlay2.imagestore=/s1",
      "overlay2.imagestore=/s2",
      "overlay2.additionallayerstore=/l:ref",
      "overlay2.size=1G",
      "overlay2.force_mask=700",
      "overlay2.mountopt=generic",
      "overlay.mountopt=nodev",
      "overlay.size=1G",
      "overlay.inodes=5",
      "overlay.force_mask=-rwx------",
    ]);
    assert.ok(config.warnings.some((w) => w.includes("from overlay2 to the equivalent overlay")));
    assert.equal(config.configFile, file);
    assert.equal(config.graphRoot, `${dir}/g`);
    assert.equal(config.rootless, false);

    const vfs = await loadStoreConfig(
      fakeEnv({ CONTAINERS_STORAGE_CONF: file, STORAGE_DRIVER: "vfs" }),
      paths,
    );
    assert.equal(vfs.driver, "vfs");
    assert.deepEqual(vfs.driverOptions.slice(0, 1), ["vfs.imagestore=/s1"]);
    assert.equal(vfs.driverOptions.length, 6); // vfs has no table options for these keys

    const replaced = await loadStoreConfig(
      fakeEnv({ CONTAINERS_STORAGE_CONF: file, STORAGE_OPTS: ",a=b" }),
      paths,
    );
    assert.deepEqual(replaced.driverOptions, ["", "a=b"]);
    const cleared = await loadStoreConfig(
      fakeEnv({ CONTAINERS_STORAGE_CONF: file, STORAGE_OPTS: "" }),
      paths,
    );
    assert.deepEqual(cleared.driverOptions, []);
  });
});

Deno.test("search order: explicit file, XDG, /etc, /usr/share, built-in", async () => {
  await withTemp(async (dir, paths) => {
    const conf = (root: string) =>
      `[storage]\ndriver = "vfs"\ngraphroot = "${dir}/${root}"\nrunroot = "${dir}/${root}-run"\n`;
    const root = async (env: Record<string, string>) =>
      (await loadStoreConfig(fakeEnv(env), paths)).graphRoot;

    let config = await loadStoreConfig(fakeEnv({}), paths);
    assert.equal(config.graphRoot, "/var/lib/containers/storage");
    assert.equal(config.runRoot, "/run/containers/storage");
    assert.equal(config.driver, "");
    assert.equal(config.configFile, undefined);

    await Deno.writeTextFile(`${dir}/usr.conf`, conf("usr"));
    assert.equal(await root({}), `${dir}/usr`);
    await Deno.writeTextFile(`${dir}/etc.conf`, conf("etc"));
    assert.equal(await root({}), `${dir}/etc`);
    assert.equal(await root({ XDG_CONFIG_HOME: `${dir}/xdg` }), `${dir}/etc`); // no file there
    await Deno.mkdir(`${dir}/xdg/containers`, { recursive: true });
    await Deno.writeTextFile(`${dir}/xdg/containers/storage.conf`, conf("xdg"));
    assert.equal(await root({ XDG_CONFIG_HOME: `${dir}/xdg` }), `${dir}/xdg`);
    await Deno.writeTextFile(`${dir}/only.conf`, conf("only"));
    assert.equal(
      await root({ CONTAINERS_STORAGE_CONF: `${dir}/only.conf`, XDG_CONFIG_HOME: `${dir}/xdg` }),
      `${dir}/only`,
    );
    await rejectsConfig(
      loadStoreConfig(fakeEnv({ CONTAINERS_STORAGE_CONF: `${dir}/missing.conf` }), paths),
      /^stat .*missing\.conf: no such file or directory$/,
    );

    // STORAGE_DRIVER only matters when a file is read.
    config = await loadStoreConfig(fakeEnv({ STORAGE_DRIVER: "vfs" }), {
      ...paths,
      systemConfigPaths: [`${dir}/none.conf`],
    });
    assert.equal(config.driver, "");
  });
});

Deno.test("rootful roots left out: defaults fill one, both missing is an error", async () => {
  await withTemp(async (dir, paths) => {
    const file = `${dir}/s.conf`;
    const env = fakeEnv({ CONTAINERS_STORAGE_CONF: file });
    await Deno.writeTextFile(file, `[storage]\ndriver = "vfs"\nrunroot = "${dir}/r"\n`);
    const config = await loadStoreConfig(env, paths);
    assert.equal(config.graphRoot, "/var/lib/containers/storage");
    assert.equal(config.runRoot, `${dir}/r`);

    await Deno.writeTextFile(file, `[storage]\ndriver = "vfs"\n`);
    await rejectsConfig(loadStoreConfig(env, paths), /^no storage runroot or graphroot specified/);

    await Deno.writeTextFile(file, ``);
    const empty = await loadStoreConfig(env, paths);
    assert.equal(empty.graphRoot, "/var/lib/containers/storage");
    assert.ok(empty.warnings.some((w) => w.includes("'driver' option must be set")));

    // systemDefaults always fills both.
    await Deno.writeTextFile(file, `[storage]\ndriver = "overlay"\n`);
    const defaults = await systemDefaults(env, paths);
    assert.equal(defaults.graphRoot, "/var/lib/containers/storage");
    assert.equal(defaults.runRoot, "/run/containers/storage");
    assert.equal(defaults.driver, "overlay");
  });
});

Deno.test("ID maps from remap-uids and from subuid/subgid files", async () => {
  await withTemp(async (dir, paths) => {
    const file = `${dir}/s.conf`;
    const env = fakeEnv({ CONTAINERS_STORAGE_CONF: file });
    const write = (options: string) =>
      Deno.writeTextFile(
        file,
        `[storage]\ndriver = "vfs"\ngraphroot = "${dir}/g"\nrunroot = "${dir}/r"\n[storage.options]\n${options}`,
      );
    await write(`remap-uids = "0:100000:65536"\nremap-gids = "0:200000:1000"\n`);
    let config = await loadStoreConfig(env, paths);
    assert.deepEqual(config.uidMap, [{ container_id: 0, host_id: 100000, size: 65536 }]);
    assert.deepEqual(config.gidMap, [{ container_id: 0, host_id: 200000, size: 1000 }]);

    await write(`remap-user = "alice"\n`);
    await rejectsConfig(
      loadStoreConfig(env, paths),
      new RegExp(`^no subuid ranges found for user "alice" in ${dir}/subuid$`),
    );
    await Deno.writeTextFile(
      `${dir}/subuid`,
      `# comment\nbob:1:2\nalice:300000:10\nalice:100000:65536\n`,
    );
    await Deno.writeTextFile(`${dir}/subgid`, `alice:500000:5\n`);
    config = await loadStoreConfig(env, paths);
    assert.deepEqual(config.uidMap, [
      { container_id: 0, host_id: 100000, size: 65536 },
      { container_id: 65536, host_id: 300000, size: 10 },
    ]);
    assert.deepEqual(config.gidMap, [{ container_id: 0, host_id: 500000, size: 5 }]);

    await write(`remap-uids = "0:1"\n`);
    await rejectsConfig(loadStoreConfig(env, paths), /remap-uids setting is malformed/);
  });
});

// ---------------------------------------------------------------- rootless

Deno.test("rootless defaults from the system file, then the per-user file", async () => {
  await withTemp(async (dir, paths) => {
    const vars: Record<string, string> = {
      HOME: `${dir}/home`,
      XDG_RUNTIME_DIR: `${dir}/rt`,
    };
    await Deno.mkdir(`${dir}/home`);
    await Deno.writeTextFile(
      `${dir}/etc.conf`,
      `[storage]\ndriver = "overlay"\ngraphroot = "/var/lib/x"\n[storage.options]\n` +
        `mountopt = "m"\nignore_chown_errors = "true"\n`,
    );
    let config = await loadStoreConfig(fakeEnv(vars, 1000), paths);
    assert.equal(config.rootless, true);
    assert.equal(config.graphRoot, `${dir}/home/.local/share/containers/storage`);
    assert.equal(config.runRoot, `${dir}/rt/containers`);
    assert.ok((await Deno.stat(`${dir}/rt/containers`)).isDirectory, "Go creates the run root");
    assert.equal(config.driver, "overlay");
    assert.deepEqual(config.driverOptions, ["overlay.ignore_chown_errors=true"]);
    assert.equal(config.configFile, `${dir}/etc.conf`);

    // A system driver that rootless cannot use falls back to vfs.
    await Deno.writeTextFile(
      `${dir}/etc.conf`,
      `[storage]\ndriver = "zfs"\nrootless_storage_path = "${dir}/rsp/$UID"\n`,
    );
    config = await loadStoreConfig(fakeEnv({ ...vars, XDG_DATA_HOME: `${dir}/data` }, 1000), paths);
    assert.equal(config.driver, "vfs");
    assert.equal(config.graphRoot, `${dir}/rsp/1000`);
    config = await loadStoreConfig(fakeEnv({ ...vars, STORAGE_OPTS: "a=1,b=2" }, 1000), paths);
    assert.deepEqual(config.driverOptions, ["a=1", "b=2"]);

    // The per-user file replaces everything; missing roots fall back.
    await Deno.mkdir(`${dir}/home/.config/containers`, { recursive: true });
    await Deno.writeTextFile(
      `${dir}/home/.config/containers/storage.conf`,
      `[storage]\ndriver = "vfs"\n[storage.options]\nsize = "1"\n`,
    );
    config = await loadStoreConfig(fakeEnv(vars, 1000), paths);
    assert.equal(config.graphRoot, `${dir}/rsp/1000`); // still the system rootless_storage_path
    assert.equal(config.runRoot, `${dir}/rt/containers`);
    assert.deepEqual(config.driverOptions, ["vfs.size=1"]);
    assert.equal(config.configFile, `${dir}/home/.config/containers/storage.conf`);

    await Deno.writeTextFile(
      `${dir}/home/.config/containers/storage.conf`,
      `[storage]\ndriver = "vfs"\nrootless_storage_path = "$HOME/mine"\nrunroot = "$XDG_RUNTIME_DIR/$UID"\n`,
    );
    config = await loadStoreConfig(fakeEnv(vars, 1000), paths);
    assert.equal(config.graphRoot, `${dir}/home/mine`);
    assert.equal(config.runRoot, `${dir}/rt/1000`);

    // _CONTAINERS_ROOTLESS_UID makes root use per-user storage of that UID.
    config = await loadStoreConfig(fakeEnv({ ...vars, _CONTAINERS_ROOTLESS_UID: "1000" }), paths);
    assert.equal(config.rootless, true);
    assert.equal(config.runRoot, `${dir}/rt/1000`);
  });
});

Deno.test("rootless runtime dir: TMPDIR per-user dir, then $HOME/rundir, passwd home", async () => {
  await withTemp(async (dir, paths) => {
    const euid = Deno.uid() ?? 0;
    const uid = 4321; // the directory name uses the rootless UID, ownership the effective one
    await Deno.mkdir(`${dir}/tmp`);
    await Deno.mkdir(`${dir}/home`);
    const env = { HOME: `${dir}/home`, TMPDIR: `${dir}/tmp`, _CONTAINERS_ROOTLESS_UID: `${uid}` };
    const paths2 = { ...paths, procInitCommPath: `${dir}/comm`, runUserDir: `${dir}/run-user` };
    await Deno.writeTextFile(`${dir}/comm`, "systemd\n"); // as on a real host: not "systemd"

    let config = await loadStoreConfig(fakeEnv(env, euid), paths2);
    assert.equal(config.runRoot, `${dir}/tmp/containers-user-${uid}/containers`);
    assert.equal((await Deno.stat(`${dir}/tmp/containers-user-${uid}`)).mode! & 0o777, 0o700);

    // Not private any more: skipped in favour of $HOME/rundir.
    await Deno.chmod(`${dir}/tmp/containers-user-${uid}`, 0o755);
    config = await loadStoreConfig(fakeEnv(env, euid), paths2);
    assert.equal(config.runRoot, `${dir}/home/rundir/containers`);

    // Exactly "systemd" (or unreadable): /run/user/<uid> when private.
    await Deno.writeTextFile(`${dir}/comm`, "systemd");
    await Deno.mkdir(`${dir}/run-user/${uid}`, { recursive: true, mode: 0o700 });
    await Deno.chmod(`${dir}/run-user/${uid}`, 0o700);
    config = await loadStoreConfig(fakeEnv(env, euid), paths2);
    assert.equal(config.runRoot, `${dir}/run-user/${uid}/containers`);

    // Without $HOME, the passwd entry of the rootless UID gives the home.
    await Deno.writeTextFile(`${dir}/passwd`, `u:x:${uid}:${uid}::${dir}/pwhome:/bin/sh\n`);
    config = await loadStoreConfig(
      fakeEnv({ XDG_RUNTIME_DIR: `${dir}/rt`, _CONTAINERS_ROOTLESS_UID: `${uid}` }, euid),
      paths2,
    );
    assert.equal(config.graphRoot, `${dir}/pwhome/.local/share/containers/storage`);
  });
});

Deno.test("systemEnvironment reads the real process", () => {
  const env = systemEnvironment();
  assert.equal(typeof env.euid, "number");
  assert.equal(env.get("PATH"), Deno.env.get("PATH"));
});

Deno.test("systemEnvironment without permissions: vars unset, no prompt", async () => {
  await withTemp(async (dir) => {
    const script = `${dir}/probe.ts`;
    const module = new URL("../src/config.ts", import.meta.url).href;
    await Deno.writeTextFile(
      script,
      `import { systemEnvironment } from ${JSON.stringify(module)};\n` +
        `const env = systemEnvironment();\n` +
        `console.log(JSON.stringify([env.get("PATH") ?? null, env.euid]));\n`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        "--quiet",
        `--config=${new URL("../deno.json", import.meta.url).pathname}`,
        script,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(out.stdout)), [null, 0]);
  });
});

// ------------------------------------------------------- against Go's tool

function onPath(name: string): boolean {
  for (const d of (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":")) {
    try {
      if (Deno.statSync(`${d}/${name}`).isFile) return true;
    } catch { /* keep looking */ }
  }
  return false;
}

const HAVE_GO = onPath("containers-storage");
// Go decides rootless from the real euid, so rootful comparisons need root too.
const IS_ROOT = Deno.uid() === 0;
const CAN_SETPRIV = HAVE_GO && IS_ROOT && onPath("setpriv");
if (!HAVE_GO) console.warn("config_test: containers-storage not installed, Go comparisons skipped");
else if (!IS_ROOT) console.warn("config_test: not root, Go comparisons skipped");
else if (!CAN_SETPRIV) console.warn("config_test: setpriv missing, rootless Go runs skipped");

/** The four debug lines Go prints about the options it will use. */
async function goOptions(vars: Record<string, string>, asUid?: number): Promise<string[]> {
  const argv = ["containers-storage", "--debug", "status"];
  const cmd = asUid === undefined
    ? argv
    : ["setpriv", `--reuid=${asUid}`, `--regid=${asUid}`, "--clear-groups", ...argv];
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    clearEnv: true,
    env: { PATH: "/usr/bin:/bin", ...vars },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
  const lines: string[] = [];
  for (const m of text.matchAll(/msg="((?:[^"\\]|\\.)*)"/g)) {
    const msg = JSON.parse(`"${m[1]}"`) as string;
    if (/^(Root|Run Root|Driver Name|Driver Options): /.test(msg)) lines.push(msg);
  }
  assert.equal(lines.length, 4, `unexpected Go output:\n${text}`);
  return lines;
}

function ourOptions(c: StoreConfig): string[] {
  return [
    `Root: ${c.graphRoot}`,
    `Run Root: ${c.runRoot}`,
    `Driver Name: ${c.driver}`,
    `Driver Options: [${c.driverOptions.join(" ")}]`,
  ];
}

Deno.test({
  name: "rootful results equal containers-storage's",
  ignore: !HAVE_GO || !IS_ROOT,
  fn: async () => {
    await withTemp(async (dir) => {
      // Roots under a regular file: Go fails at mkdir, before any driver
      // initialises (the overlay driver would otherwise mount its home).
      await Deno.writeTextFile(`${dir}/blocker`, "");
      await Deno.mkdir(`${dir}/real/g`, { recursive: true });
      await Deno.symlink(`${dir}/real`, `${dir}/link`);
      const roots = `graphroot = "${dir}/blocker/g"\nrunroot = "${dir}/blocker/r"\n`;
      const cases: [string, Record<string, string>][] = [
        [
          `[storage]\ndriver = "overlay2"\n${roots}[storage.options]\nmountopt = "m"\n` +
          `ignore_chown_errors = "true"\nforce_mask = 0o755\nskip_mount_home = "true"\n` +
          `mount_program = "/bin/true"\nadditionallayerstores = ["/a:ref"]\n` +
          `additionalimagestores = ["/x", "/y"]\n[storage.options.overlay]\ninodes = "5"\nforce_mask = "shared"\n`,
          {},
        ],
        [
          `[storage]\ndriver = "overlay"\n${roots}[storage.options]\nforce_mask = 0o700\nsize = "1G"\n`,
          {},
        ],
        [
          `[storage]\ndriver = "vfs"\n${roots}[storage.options]\nignore_chown_errors = "no"\n` +
          `[storage.options.vfs]\nignore_chown_errors = "yes"\n`,
          {},
        ],
        [
          `[storage]\ndriver = "btrfs"\n${roots}[storage.options]\nsize = "9"\n[storage.options.btrfs]\nmin_space = "1"\n`,
          {},
        ],
        [
          `[storage]\ndriver = "zfs"\n${roots}[storage.options]\nsize = "9"\nmountopt = "m"\n[storage.options.zfs]\nfsname = "f"\n`,
          {},
        ],
        [`[storage]\n${roots}[storage.options]\nsize = "5G"\nadditionalimagestores = ["/x"]\n`, {}],
        [
          `[storage]\ndriver = "overlay"\n${roots}[storage.options]\nsize = "5G"\n`,
          { STORAGE_DRIVER: "vfs" },
        ],
        [`[storage]\ndriver = "vfs"\n${roots}`, { STORAGE_OPTS: ",a=b" }],
        [`[storage]\ndriver = "vfs"\n${roots}[storage.options]\nsize = "1"\n`, {
          STORAGE_OPTS: "",
        }],
        [`[STORAGE]\nDRIVER = "vfs"\nGraphRoot = "${dir}/blocker/g"\nrunroot = "${dir}/r"\n`, {}],
        [
          `[storage]\ndriver = "vfs"\ngraphroot = "${dir}/link/g/"\n` +
          `runroot = "\${FOO}/r$BAR-$$-$/x$1y/../z"\n`,
          { FOO: `${dir}/blocker`, BAR: "zz" },
        ],
        [
          `[storage]\ndriver = "vfs"\ngraphroot = "${dir}/blocker/$UID/g"\nrunroot = "${dir}/blocker/r"\n`,
          { _CONTAINERS_ROOTLESS_UID: "1000", HOME: `${dir}/home`, XDG_RUNTIME_DIR: `${dir}/rt` },
        ],
      ];
      for (const [i, [text, extra]] of cases.entries()) {
        const file = `${dir}/case${i}.conf`;
        await Deno.writeTextFile(file, text);
        const vars = { CONTAINERS_STORAGE_CONF: file, ...extra };
        const ours = ourOptions(await loadStoreConfig(fakeEnv(vars)));
        assert.deepEqual(ours, await goOptions(vars), `case ${i}:\n${text}`);
      }
    });
  },
});

Deno.test({
  name: "rootless results equal containers-storage's under setpriv",
  ignore: !CAN_SETPRIV,
  fn: async () => {
    await withTemp(async (dir) => {
      const uid = 1000;
      await Deno.chmod(dir, 0o755);
      // $HOME/.local and $HOME/rsp are files, so Go fails at mkdir of the graph root.
      await Deno.mkdir(`${dir}/home/xdg/containers`, { recursive: true });
      await Deno.mkdir(`${dir}/rt`);
      await Deno.mkdir(`${dir}/tmp`, { mode: 0o1777 });
      await Deno.chmod(`${dir}/tmp`, 0o1777);
      await Deno.mkdir(`${dir}/tmp-taken/containers-user-${uid}`, { recursive: true });
      await Deno.writeTextFile(`${dir}/home/.local`, "");
      await Deno.writeTextFile(`${dir}/home/rsp`, "");
      await Deno.writeTextFile(
        `${dir}/home/xdg/containers/storage.conf`,
        `[storage]\ndriver = "vfs"\nrootless_storage_path = "$HOME/rsp/$UID"\n` +
          `runroot = "${dir}/rt/$UID/x/../y"\n`,
      );
      await Deno.writeTextFile(
        `${dir}/sys.conf`,
        `[storage]\ndriver = "overlay"\nrootless_storage_path = "${dir}/home/rsp/$UID"\n` +
          `[storage.options]\nignore_chown_errors = "true"\nmountopt = "x"\n`,
      );
      for (const p of ["home", "home/xdg", "home/xdg/containers", "rt"]) {
        await Deno.chown(`${dir}/${p}`, uid, uid);
      }
      const home = { HOME: `${dir}/home` };
      const rt = { ...home, XDG_RUNTIME_DIR: `${dir}/rt` };
      const cases: Record<string, string>[] = [
        rt,
        { ...rt, XDG_DATA_HOME: `${dir}/home/rsp` },
        { ...rt, STORAGE_DRIVER: "vfs", STORAGE_OPTS: "a=1,b=2" },
        { ...rt, STORAGE_DRIVER: "overlay2" },
        { ...rt, XDG_CONFIG_HOME: `${dir}/home/xdg` },
        { ...rt, CONTAINERS_STORAGE_CONF: `${dir}/sys.conf` },
        { ...home, TMPDIR: `${dir}/tmp` }, // Go creates the per-user dir; we then accept it
        { ...home, TMPDIR: `${dir}/tmp-taken` }, // owned by root: falls back to $HOME/rundir
      ];
      for (const [i, vars] of cases.entries()) {
        const go = await goOptions(vars, uid);
        const ours = ourOptions(await loadStoreConfig(fakeEnv(vars, uid)));
        assert.deepEqual(ours, go, `case ${i}: ${JSON.stringify(vars)}`);
      }
    });
  },
});
