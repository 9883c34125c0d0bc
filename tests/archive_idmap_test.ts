/** ID maps: conversions, parsing, sub-ID files, comparisons, and re-owning a tree. */

import assert from "node:assert/strict";
import {
  isContiguous,
  parseIDMap,
  sameIDMaps,
  subIDMap,
  toContainer,
  toHost,
} from "../src/archive/idmap.ts";
import { overflowIDs, remapOwners } from "../src/archive/remap_owners.ts";
import { readXattr, writeXattr } from "../src/archive/tree_walk.ts";
import { ffiAvailable } from "../src/sys/libc.ts";

const isRoot = Deno.uid() === 0;
const ok = isRoot && ffiAvailable();
const why = !isRoot
  ? " (skipped: needs root)"
  : !ffiAvailable()
  ? " (skipped: needs --allow-ffi)"
  : "";

const M = [
  { container_id: 0, host_id: 100000, size: 1000 },
  { container_id: 1000, host_id: 1000, size: 1 },
  { container_id: 1001, host_id: 101001, size: 64535 },
];

Deno.test("toHost / toContainer follow the ranges and refuse unmapped IDs", () => {
  assert.equal(toHost(0, M), 100000);
  assert.equal(toHost(999, M), 100999);
  assert.equal(toHost(1000, M), 1000);
  assert.equal(toHost(1001, M), 101001);
  assert.equal(toHost(65535, M), 165535);
  assert.throws(() => toHost(65536, M), /container ID 65536 cannot be mapped to a host ID/);
  assert.equal(toContainer(100000, M), 0);
  assert.equal(toContainer(1000, M), 1000);
  assert.equal(toContainer(165535, M), 65535);
  assert.throws(() => toContainer(5, M), /host ID 5 cannot be mapped to a container ID/);
  assert.equal(toHost(42, []), 42);
  assert.equal(toContainer(42, undefined), 42);
});

Deno.test("parseIDMap: one or several triples; Go's error text for malformed ones", () => {
  assert.deepEqual(parseIDMap("0:100000:65536", "uid"), [
    { container_id: 0, host_id: 100000, size: 65536 },
  ]);
  assert.deepEqual(parseIDMap("0:1:2:3:4:5", "gid"), [
    { container_id: 0, host_id: 1, size: 2 },
    { container_id: 3, host_id: 4, size: 5 },
  ]);
  assert.deepEqual(parseIDMap("", "uid"), []);
  assert.deepEqual(parseIDMap(["0:1:1", "", "5:6:7"], "uid").length, 2);
  for (const bad of ["0:1", "a:b:c", "0:1:-1", "0:1:4294967296", "0:1:2:3", " 0:1:2", "+1:2:3"]) {
    assert.throws(
      () => parseIDMap(bad, "uid"),
      (e: Error) => {
        assert.equal(
          e.message,
          `initializing ID mappings: uid setting is malformed expected ["uint32:uint32:uint32"]: ["${bad}"]`,
        );
        return true;
      },
    );
  }
  assert.throws(() => parseIDMap("x", "gid"), /gid setting is malformed/);
  assert.deepEqual(parseIDMap("0:4294967295:1", "uid")[0].host_id, 4294967295);
});

Deno.test("subIDMap: ranges of the name laid end to end; errors for none and for bad lines", () => {
  const dir = Deno.makeTempDirSync({ prefix: "cstor-subid-" });
  try {
    const f = `${dir}/subuid`;
    Deno.writeTextFileSync(f, "# comment\nalice:100000:65536\nbob:200000:10\n\nalice:300000:5\n");
    assert.deepEqual(subIDMap("alice", f), [
      { container_id: 0, host_id: 100000, size: 65536 },
      { container_id: 65536, host_id: 300000, size: 5 },
    ]);
    assert.throws(
      () => subIDMap("carol", f),
      /no subuid ranges found for user "carol" in .*subuid/,
    );
    const g = `${dir}/subgid`;
    Deno.writeTextFileSync(g, "alice:1:2:3\n");
    assert.throws(() => subIDMap("alice", g), /Format not correct/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("sameIDMaps treats absent as empty; isContiguous", () => {
  assert.ok(sameIDMaps(undefined, []));
  assert.ok(sameIDMaps(M, M.map((m) => ({ ...m }))));
  assert.ok(!sameIDMaps(M, M.slice(1)));
  assert.ok(
    !sameIDMaps([{ container_id: 0, host_id: 1, size: 2 }], [{
      container_id: 0,
      host_id: 1,
      size: 3,
    }]),
  );
  assert.ok(isContiguous(undefined));
  assert.ok(
    isContiguous([{ container_id: 0, host_id: 10, size: 5 }, {
      container_id: 5,
      host_id: 15,
      size: 5,
    }]),
  );
  assert.ok(!isContiguous(M));
});

function sh(script: string): void {
  const out = new Deno.Command("bash", { args: ["-ec", script], stderr: "piped" }).outputSync();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
}

const CAP = new Uint8Array([1, 0, 0, 2, 0, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

Deno.test({
  name: "remapOwners: host→container→host, overflow IDs, setuid and capabilities kept, hard links" +
    why,
  ignore: !ok,
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "cstor-remap-" });
    try {
      sh(`cd "${dir}"; mkdir -p d/sub; printf x > d/f; printf s > d/suid; chmod 4755 d/suid
          printf c > d/cap; printf h > d/h1; ln d/h1 d/sub/h2; ln -s f d/link; chown -h 1000:1000 d/link
          chown 70000:70000 d/sub; chown 5:6 d/f; chown 0:0 "${dir}/d"; chmod 2755 d/sub`);
      writeXattr(`${dir}/d/cap`, "security.capability", CAP);
      const to = {
        uidMap: [{ container_id: 0, host_id: 100000, size: 65536 }],
        gidMap: [{ container_id: 0, host_id: 200000, size: 65536 }],
      };
      await remapOwners(`${dir}/d`, {}, to);
      const st = (p: string) => Deno.lstatSync(`${dir}/d/${p}`);
      const ov = overflowIDs();
      assert.deepEqual([Deno.lstatSync(`${dir}/d`).uid], [0], "the root itself is left alone");
      assert.deepEqual([st("f").uid, st("f").gid], [100005, 200006]);
      assert.deepEqual([st("link").uid, st("link").gid], [101000, 201000]);
      assert.deepEqual(
        [st("sub").uid, st("sub").gid],
        [ov.uid, ov.gid],
        "outside the new maps → overflow",
      );
      assert.equal(st("suid").mode! & 0o7777, 0o4755);
      assert.equal(st("sub").mode! & 0o7777, 0o2755);
      assert.deepEqual(readXattr(`${dir}/d/cap`, "security.capability"), CAP);
      assert.equal(st("h1").ino, st("sub/h2").ino);
      assert.equal(st("h1").uid, 100000);

      // Back again: 100005 → 5 → host identity.
      const back = {
        uidMap: [{ container_id: 0, host_id: 0, size: 65536 }],
        gidMap: [{ container_id: 0, host_id: 0, size: 65536 }],
      };
      Deno.chownSync(`${dir}/d/sub`, 100001, 200001);
      await remapOwners(`${dir}/d`, to, back);
      assert.deepEqual([st("f").uid, st("f").gid], [5, 6]);
      assert.deepEqual([st("sub").uid, st("sub").gid], [1, 1]);
      assert.equal(st("suid").mode! & 0o7777, 0o4755);

      // An owner outside the old maps is an error, unless it is 0:0.
      sh(
        `mkdir -p "${dir}/e"; printf z > "${dir}/e/zero"; printf o > "${dir}/e/other"; chown 100003:200003 "${dir}/e/other"`,
      );
      await remapOwners(`${dir}/e`, to, {});
      assert.deepEqual(
        [Deno.lstatSync(`${dir}/e/zero`).uid, Deno.lstatSync(`${dir}/e/other`).uid],
        [0, 3],
      );
      Deno.chownSync(`${dir}/e/other`, 7, 7);
      await assert.rejects(
        remapOwners(`${dir}/e`, to, {}),
        /mapping host ID pair \{UID:7 GID:7\} for ".*e\/other" to container/,
      );
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
