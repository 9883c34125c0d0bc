/**
 * Hostile archives: every entry that would create or change anything outside
 * the target must be refused with an error naming it, and nothing outside
 * the target may change. The archives are built byte by byte here (not with
 * the project's writer, which would refuse or normalise some of them).
 */

import assert from "node:assert/strict";
import { type ExtractOptions, extractTar } from "../src/archive/extract.ts";
import { readTar } from "../src/archive/tar_reader.ts";
import { walkTree } from "../src/archive/tree_walk.ts";
import { ffiAvailable } from "../src/sys/libc.ts";
import { archive, gnuLong, paxEntry, rawEntry } from "./fixtures/archive/raw_tar.ts";

const enc = new TextEncoder();
const isRoot = Deno.uid() === 0;

/** Names, types, sizes, modes and mtimes of everything below `root`. */
function fingerprint(root: string): string {
  // The root's own times and link count change when anything is made in it.
  const top = Deno.lstatSync(root);
  const lines: string[] = [`. ${top.mtime?.getTime()} ${top.ctime?.getTime()} ${top.nlink}`];
  walkTree(root, (e) => {
    lines.push(
      `${e.rel} ${e.info.isDirectory ? "d" : e.info.isSymlink ? "l" : "f"} ${e.info.size} ` +
        `${e.info.mode} ${e.info.mtime?.getTime()} ${e.info.nlink}`,
    );
  });
  return lines.join("\n");
}

interface Case {
  name: string;
  tar: (outside: string) => Uint8Array;
  /** Expected error text (the offending entry's quoted name is checked too). */
  error: RegExp;
  entry: string | ((outside: string) => string);
  options?: Partial<ExtractOptions>;
  /** Paths to pre-create in dest (a parent layer's symlinks). */
  setup?: (dest: string, outside: string) => void;
}

const CASES: Case[] = [
  {
    name: "absolute name",
    tar: (o) => archive(rawEntry({ name: `${o}/abs`, body: "evil" })),
    error: /absolute name/,
    entry: (o) => `${o}/abs`,
  },
  {
    name: "../ name",
    tar: () => archive(rawEntry({ name: "../outside/dotdot", body: "evil" })),
    error: /escapes the layer directory.*is outside of/,
    entry: "../outside/dotdot",
  },
  {
    name: "a/../../x",
    tar: () =>
      archive(
        rawEntry({ name: "a/", type: "5" }),
        rawEntry({ name: "a/../../outside/x", body: "e" }),
      ),
    error: /escapes the layer directory/,
    entry: "a/../../outside/x",
  },
  {
    name: "PAX path override to ../x",
    tar: () =>
      archive(paxEntry({ path: "../outside/pax" }), rawEntry({ name: "innocent", body: "e" })),
    error: /escapes the layer directory/,
    entry: "../outside/pax",
  },
  {
    name: "GNU long name with ../",
    tar: () =>
      archive(gnuLong("L", "../" + "x".repeat(120)), rawEntry({ name: "short", body: "e" })),
    error: /escapes the layer directory/,
    entry: "../" + "x".repeat(120),
  },
  {
    name: "symlink to outside, then a file through it",
    tar: (o) =>
      archive(
        rawEntry({ name: "l", type: "2", linkname: o }),
        rawEntry({ name: "l/evil", body: "evil" }),
      ),
    error: /written through symlink "l"/,
    entry: "l/evil",
  },
  {
    name: "symlink to outside, then a directory through it",
    tar: (o) =>
      archive(
        rawEntry({ name: "l", type: "2", linkname: o }),
        rawEntry({ name: "l/newdir/", type: "5", mode: 0o777 }),
      ),
    error: /written through symlink "l"/,
    entry: "l/newdir/",
  },
  {
    name: "symlink to ..",
    tar: () => archive(rawEntry({ name: "up", type: "2", linkname: ".." })),
    error: /symlink to "\.\.", outside the layer directory/,
    entry: "up",
  },
  {
    name: "symlink to .. deeper, then written through",
    tar: () =>
      archive(
        rawEntry({ name: "a/up", type: "2", linkname: ".." }),
        rawEntry({ name: "a/up/a/up/evil", body: "e" }),
      ),
    error: /written through symlink "a\/up"/,
    entry: "a/up/a/up/evil",
  },
  {
    name: "hard link to /etc/passwd",
    tar: () => archive(rawEntry({ name: "pw", type: "1", linkname: "/etc/passwd" })),
    error: /hard link to "\/etc\/passwd", outside the layer directory/,
    entry: "pw",
  },
  {
    name: "hard link to ../x",
    tar: () => archive(rawEntry({ name: "h", type: "1", linkname: "../outside/target" })),
    error: /hard link to "..\/outside\/target", outside the layer directory/,
    entry: "h",
  },
  {
    name: "hard link through a symlink",
    tar: (o) =>
      archive(
        rawEntry({ name: "l", type: "2", linkname: o }),
        rawEntry({ name: "h", type: "1", linkname: "l/target" }),
      ),
    error: /hard link through symlink "l"/,
    entry: "h",
  },
  {
    name: "PAX linkpath override to ../x",
    tar: () =>
      archive(
        paxEntry({ linkpath: "../outside/target" }),
        rawEntry({ name: "h", type: "1", linkname: "ok" }),
      ),
    error: /outside the layer directory/,
    entry: "h",
  },
  {
    name: "whiteout .wh...",
    tar: () =>
      archive(rawEntry({ name: "sub/", type: "5" }), rawEntry({ name: "sub/.wh...", size: 0 })),
    error: /invalid whiteout/,
    entry: "sub/.wh...",
  },
  {
    name: "whiteout ../.wh.x",
    tar: () => archive(rawEntry({ name: "../.wh.outside" })),
    error: /escapes the layer directory/,
    entry: "../.wh.outside",
  },
  {
    name: "whiteout through a symlink (delete mode)",
    tar: (o) =>
      archive(rawEntry({ name: "l", type: "2", linkname: o }), rawEntry({ name: "l/.wh.target" })),
    error: /written through symlink "l"/,
    entry: "l/.wh.target",
  },
  {
    name: "opaque whiteout through a symlink (delete mode)",
    tar: (o) =>
      archive(
        rawEntry({ name: "l", type: "2", linkname: o }),
        rawEntry({ name: "l/.wh..wh..opq" }),
      ),
    error: /written through symlink "l"/,
    entry: "l/.wh..wh..opq",
  },
  {
    name: "whiteout through a symlink (overlay mode)",
    tar: (o) =>
      archive(rawEntry({ name: "l", type: "2", linkname: o }), rawEntry({ name: "l/.wh.newdev" })),
    error: /written through symlink "l"/,
    entry: "l/.wh.newdev",
    options: { whiteouts: "overlay" },
  },
  {
    name: "opaque whiteout through a symlink (overlay mode)",
    tar: (o) =>
      archive(
        rawEntry({ name: "l", type: "2", linkname: o }),
        rawEntry({ name: "l/.wh..wh..opq" }),
      ),
    error: /written through symlink "l"/,
    entry: "l/.wh..wh..opq",
    options: { whiteouts: "overlay" },
  },
  {
    name: "parent directory replaced by a symlink mid-stream",
    tar: (o) =>
      archive(
        rawEntry({ name: "p/d/", type: "5" }),
        rawEntry({ name: "p/d/ok", body: "fine" }),
        rawEntry({ name: "p", type: "2", linkname: o }),
        rawEntry({ name: "p/d/evil", body: "evil" }),
      ),
    error: /written through symlink "p"/,
    entry: "p/d/evil",
  },
  {
    name: "directory whited out, then recreated as a symlink, then written through",
    tar: (o) =>
      archive(
        rawEntry({ name: "q/r/", type: "5" }),
        rawEntry({ name: ".wh.q" }),
        rawEntry({ name: "q", type: "2", linkname: o }),
        rawEntry({ name: "q/r/evil", body: "evil" }),
      ),
    error: /written through symlink "q"/,
    entry: "q/r/evil",
  },
  {
    name: "symlink left by a parent layer",
    setup: (d, o) => {
      Deno.mkdirSync(`${d}/usr`);
      Deno.symlinkSync(o, `${d}/usr/lib`);
    },
    tar: () => archive(rawEntry({ name: "usr/lib/evil", body: "evil" })),
    error: /written through symlink "usr\/lib"/,
    entry: "usr/lib/evil",
  },
  {
    name: "name that is not UTF-8",
    tar: () => {
      const e = rawEntry({ name: "bad-XX", body: "x" });
      e.set([0xff, 0xfe], 4);
      let sum = 0;
      e.subarray(0, 512).forEach((x, i) => (sum += i >= 148 && i < 156 ? 32 : x));
      e.set(enc.encode(sum.toString(8).padStart(6, "0") + "\u0000 "), 148);
      return archive(e);
    },
    error: /not valid UTF-8/,
    entry: "bad-\uFFFD\uFFFD",
  },
  {
    name: "file entry for the layer root",
    tar: () => archive(rawEntry({ name: "./", body: "x", type: "0" })),
    error: /would replace the layer directory/,
    entry: "./",
  },
  {
    name: "symlink as the layer root",
    tar: (o) => archive(rawEntry({ name: ".", type: "2", linkname: o })),
    error: /would replace the layer directory/,
    entry: ".",
  },
];

async function runCase(c: Case): Promise<void> {
  const work = Deno.makeTempDirSync({ prefix: "cstor-hostile-" });
  try {
    const dest = `${work}/dest`;
    const outside = `${work}/outside`;
    Deno.mkdirSync(dest);
    Deno.mkdirSync(outside);
    Deno.writeTextFileSync(`${outside}/target`, "original");
    c.setup?.(dest, outside);
    // dest itself changes (entries are made in it); everything else must not.
    const outsideOf = (fp: string) =>
      fp.split("\n").filter((l) => !l.startsWith("dest/") && !l.startsWith("dest ")).join("\n");
    const before = outsideOf(fingerprint(work));
    const passwd = Deno.lstatSync("/etc/passwd");
    const bytes = c.tar(outside);
    const opts: ExtractOptions = { whiteouts: "delete", ignoreChownErrors: !isRoot, ...c.options };
    const entry = typeof c.entry === "string" ? c.entry : c.entry(outside);
    await assert.rejects(
      extractTar(readTar(ReadableStream.from([bytes])), dest, opts),
      (err: Error) => {
        assert.match(err.message, c.error);
        if (!/duplicates/.test(err.message)) {
          assert.ok(
            err.message.includes(JSON.stringify(entry)),
            `error names the entry: ${err.message}`,
          );
        }
        return true;
      },
    );
    const after = outsideOf(fingerprint(work));
    assert.equal(after, before, "nothing outside dest changed");
    assert.equal(Deno.readTextFileSync(`${outside}/target`), "original");
    const passwdAfter = Deno.lstatSync("/etc/passwd");
    assert.equal(passwdAfter.nlink, passwd.nlink);
    assert.equal(passwdAfter.mtime?.getTime(), passwd.mtime?.getTime());
  } finally {
    Deno.removeSync(work, { recursive: true });
  }
}

Deno.test("hostile archives are refused and change nothing outside the target", async (t) => {
  for (const c of CASES) {
    if (c.options?.whiteouts === "overlay" && !ffiAvailable()) continue;
    await t.step(c.name, () => runCase(c));
  }
});

Deno.test("hostile: the whole corpus also fails in aufs mode without touching the outside", async (t) => {
  for (const c of CASES) {
    if (c.name.includes("whiteout")) continue; // aufs writes whiteouts as plain files
    await t.step(c.name, () => runCase({ ...c, options: { ...c.options, whiteouts: "aufs" } }));
  }
});

Deno.test("hostile: an absolute symlink is created (never followed)", async () => {
  const work = Deno.makeTempDirSync({ prefix: "cstor-hostile-" });
  try {
    const bytes = archive(rawEntry({ name: "etc-link", type: "2", linkname: "/etc" }));
    await extractTar(readTar(ReadableStream.from([bytes])), `${work}/dest`, {
      whiteouts: "delete",
      ignoreChownErrors: !isRoot,
    });
    assert.equal(Deno.readLinkSync(`${work}/dest/etc-link`), "/etc");
  } finally {
    Deno.removeSync(work, { recursive: true });
  }
});

Deno.test({
  name: "hostile: device entries are skipped when rootless" +
    (isRoot ? "" : " (skipped: needs root)"),
  ignore: !isRoot,
  async fn() {
    const work = Deno.makeTempDirSync({ prefix: "cstor-hostile-" });
    try {
      const bytes = archive(
        rawEntry({ name: "sda", type: "4", devmajor: 8, devminor: 0 }),
        rawEntry({ name: "mem", type: "3", devmajor: 1, devminor: 1 }),
        rawEntry({ name: "ok", body: "x" }),
      );
      await extractTar(readTar(ReadableStream.from([bytes])), `${work}/dest`, {
        whiteouts: "delete",
        rootless: true,
      });
      assert.deepEqual([...Deno.readDirSync(`${work}/dest`)].map((e) => e.name), ["ok"]);
    } finally {
      Deno.removeSync(work, { recursive: true });
    }
  },
});

/** Runs a tiny extraction script in a child process (other user, other permissions). */
function child(perms: string[], prefix: string[], work: string, tarPath: string, dest: string) {
  const script = new URL("../src/archive/extract.ts", import.meta.url).href;
  const reader = new URL("../src/archive/tar_reader.ts", import.meta.url).href;
  const file = `${work}/child-${crypto.randomUUID()}.ts`;
  Deno.writeTextFileSync(
    file,
    `
    import { extractTar } from ${JSON.stringify(script)};
    import { readTar } from ${JSON.stringify(reader)};
    const f = await Deno.open(${JSON.stringify(tarPath)});
    try {
      await extractTar(readTar(f.readable), ${
      JSON.stringify(dest)
    }, { whiteouts: "delete", ignoreChownErrors: true });
      console.log("OK");
    } catch (e) { console.log("ERR " + e.message); }
  `,
  );
  Deno.chmodSync(file, 0o644);
  const cmd = [
    ...prefix,
    Deno.execPath(),
    "run",
    "--no-check",
    "--allow-read",
    `--allow-write=${work}`,
    ...perms,
    file,
  ];
  const out = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdout: "piped",
    stderr: "piped",
    env: { DENO_DIR: `${work}/deno-dir`, NO_COLOR: "1" },
  }).outputSync();
  return new TextDecoder().decode(out.stdout).trim() + new TextDecoder().decode(out.stderr).trim();
}

Deno.test({
  name: "hostile: devices without FFI or without root fail with a clear error" +
    (isRoot ? "" : " (skipped: needs root)"),
  ignore: !isRoot,
  fn() {
    const work = Deno.makeTempDirSync({ prefix: "cstor-hostile-" });
    try {
      Deno.chmodSync(work, 0o777);
      const tarPath = `${work}/dev.tar`;
      Deno.writeFileSync(
        tarPath,
        archive(rawEntry({ name: "mem", type: "3", devmajor: 1, devminor: 1 })),
      );
      Deno.chmodSync(tarPath, 0o644);
      const noFFI = child([], [], work, tarPath, `${work}/noffi`);
      assert.match(noFFI, /ERR applying layer: entry "mem": .*needs libc through FFI/);
      const setpriv = (() => {
        try {
          return new Deno.Command("setpriv", { args: ["--version"], stdout: "null" }).outputSync()
            .success;
        } catch {
          return false;
        }
      })();
      if (setpriv) {
        const asNobody = child(
          ["--allow-ffi"],
          ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"],
          work,
          tarPath,
          `${work}/nobody`,
        );
        assert.match(asNobody, /ERR applying layer: entry "mem": mknod .*EPERM/);
      }
    } finally {
      Deno.removeSync(work, { recursive: true });
    }
  },
});
