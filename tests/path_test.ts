/**
 * src/path.ts gives node:path's results.
 *
 * @module
 */

import assert from "node:assert/strict";
import * as node from "node:path";
import { basename, dirname, join, normalize, resolve } from "../src/path.ts";

const SAMPLES = [
  "",
  ".",
  "..",
  "/",
  "//",
  "///a",
  "a",
  "a/",
  "a//b",
  "./a",
  "a/./b/",
  "a/../b",
  "a/..",
  "a/../",
  "../../a",
  "/..",
  "/../a/",
  "/a/b/../../..",
  "//a//b//",
  "/a/b.json",
  "a/b/c/../../../../d",
  ".wh..wh..opq",
  "/graph/vfs-layers/layers.json",
];

Deno.test("path: normalize, dirname and basename as node:path", () => {
  for (const p of SAMPLES) {
    assert.equal(normalize(p), node.normalize(p), `normalize(${JSON.stringify(p)})`);
    assert.equal(dirname(p), node.dirname(p), `dirname(${JSON.stringify(p)})`);
    assert.equal(basename(p), node.basename(p), `basename(${JSON.stringify(p)})`);
    for (const ext of [".json", "json", "b.json", ""]) {
      assert.equal(basename(p, ext), node.basename(p, ext), `basename(${p}, ${ext})`);
    }
  }
});

Deno.test("path: join and resolve as node:path", () => {
  for (const a of SAMPLES) {
    for (const b of ["", "x", "../y", "/abs", "z/"]) {
      assert.equal(join(a, b), node.join(a, b), `join(${JSON.stringify(a)}, ${b})`);
      assert.equal(resolve(a, b), node.resolve(a, b), `resolve(${JSON.stringify(a)}, ${b})`);
    }
    assert.equal(resolve(a), node.resolve(a), `resolve(${JSON.stringify(a)})`);
  }
  assert.equal(join(), node.join());
  assert.equal(resolve(), node.resolve());
  assert.equal(join("/g", "vfs", "dir", "id"), node.join("/g", "vfs", "dir", "id"));
});
