/**
 * A root filesystem made of files already on this machine: some programs
 * and the shared libraries `ldd` says they need, with every symbolic link
 * on the way kept as a link (so `/bin -> usr/bin` on a merged-/usr system
 * comes out the same inside the image). Nothing is downloaded.
 *
 * @module
 */

import { posix } from "node:path";
import { tarStream, type TarWriter } from "../src/archive/tar_writer.ts";
import { TYPE } from "../src/archive/tar_types.ts";

/** One entry of the tree to put in a layer. */
export type TreeEntry =
  | { kind: "dir" }
  | { kind: "file"; mode: number; source: string }
  | { kind: "bytes"; mode: number; data: Uint8Array }
  | { kind: "symlink"; target: string };

/** Paths inside the image (absolute) to what goes there. */
export type Tree = Map<string, TreeEntry>;

/** Fixed time for every entry, so the same files always make the same layer. */
const MTIME = 1_700_000_000;

/** The shared libraries (and loader) a program needs, from `ldd`. */
export async function sharedLibraries(program: string): Promise<string[]> {
  const out = await new Deno.Command("ldd", { args: [program], stdout: "piped", stderr: "null" })
    .output();
  if (!out.success) return []; // static program, or not an ELF file
  const libs: string[] = [];
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (m) libs.push(m[1]);
  }
  return libs;
}

/** Adds a host path (and every link and directory on the way to it) to `tree`. */
export function addHostPath(tree: Tree, path: string, hops = 0): void {
  if (hops > 40) throw new Error(`too many symbolic links resolving ${path}`);
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  let current = "";
  for (const [i, part] of parts.entries()) {
    const next = `${current}/${part}`;
    const info = Deno.lstatSync(next);
    if (info.isSymlink) {
      const target = Deno.readLinkSync(next);
      tree.set(next, { kind: "symlink", target });
      const base = target.startsWith("/") ? target : posix.join(current || "/", target);
      addHostPath(tree, posix.join(base, ...parts.slice(i + 1)), hops + 1);
      return;
    }
    if (info.isDirectory) {
      if (!tree.has(next)) tree.set(next, { kind: "dir" });
    } else if (i === parts.length - 1 && info.isFile) {
      tree.set(next, { kind: "file", mode: (info.mode ?? 0o755) & 0o7777, source: next });
    } else {
      throw new Error(`${next} is neither a directory, a file nor a symbolic link`);
    }
    current = next;
  }
}

/** A tree holding `programs` (looked up by absolute path) and their libraries. */
export async function programTree(programs: string[]): Promise<Tree> {
  const tree: Tree = new Map();
  for (const p of programs) {
    addHostPath(tree, p);
    for (const lib of await sharedLibraries(p)) addHostPath(tree, lib);
  }
  return tree;
}

/** Adds a file with the given text (and its parent directories) to `tree`. */
export function addTextFile(tree: Tree, path: string, text: string, mode = 0o644): void {
  const parts = path.split("/").filter(Boolean);
  for (let i = 1; i < parts.length; i++) {
    const dir = `/${parts.slice(0, i).join("/")}`;
    if (!tree.has(dir)) tree.set(dir, { kind: "dir" });
  }
  tree.set(`/${parts.join("/")}`, { kind: "bytes", mode, data: new TextEncoder().encode(text) });
}

async function writeEntry(tw: TarWriter, path: string, e: TreeEntry): Promise<void> {
  const name = path.slice(1);
  const common = { uid: 0, gid: 0, mtimeSec: MTIME };
  switch (e.kind) {
    case "dir":
      return await tw.writeHeader({ ...common, name: `${name}/`, type: TYPE.dir, mode: 0o755 });
    case "symlink":
      return await tw.writeHeader({
        ...common,
        name,
        type: TYPE.symlink,
        mode: 0o777,
        linkname: e.target,
      });
    case "bytes":
      return await tw.writeEntry(
        { ...common, name, type: TYPE.file, mode: e.mode, size: e.data.length },
        e.data,
      );
    case "file": {
      const data = await Deno.readFile(e.source);
      return await tw.writeEntry(
        { ...common, name, type: TYPE.file, mode: e.mode, size: data.length },
        data,
      );
    }
  }
}

/** The tree as an uncompressed tar (entries sorted by path, owned by root, fixed times). */
export async function treeTar(tree: Tree): Promise<Uint8Array> {
  const paths = [...tree.keys()].sort();
  const stream = tarStream(async (tw) => {
    for (const p of paths) await writeEntry(tw, p, tree.get(p)!);
  });
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
