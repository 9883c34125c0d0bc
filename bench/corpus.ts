/**
 * The big layer the apply and diff workloads use: a tar of files already on
 * the machine (no network), picked from /usr in a fixed pseudo-random order
 * so a run on the same machine gets the same archive, plus its gzip.
 *
 * @module
 */

import { join } from "node:path";
import { run } from "./proc.ts";

/** How big the archive should be. */
export interface CorpusSize {
  /** Regular files wanted. */
  files: number;
  /** Total bytes of file contents wanted. */
  bytes: number;
}

/** The archive as built. */
export interface Corpus {
  tar: string;
  gz: string;
  sha256: string;
  /** Bytes of the uncompressed archive. */
  tarBytes: number;
  gzBytes: number;
  /** Entries by kind. */
  files: number;
  dirs: number;
  symlinks: number;
}

/** Files bigger than this stay out (one file should not be most of the layer). */
const MAX_FILE = 24 << 20;
/** The split between the many small files and the few that carry the bytes. */
const SMALL = 96 << 10;

/** FNV-1a of a path: a stable shuffle that does not depend on directory order. */
function fnv(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

interface Candidate {
  kind: string;
  size: number;
  path: string;
}

async function candidates(): Promise<Candidate[]> {
  const r = await run(
    ["find", "/usr", "-xdev", "(", "-type", "f", "-o", "-type", "l", ")", "-printf", "%y %s %p\\0"],
    { check: false }, // unreadable corners are fine
  );
  const out: Candidate[] = [];
  for (const rec of r.stdout.split("\0")) {
    const a = rec.indexOf(" ");
    const b = rec.indexOf(" ", a + 1);
    if (a < 0 || b < 0) continue;
    const path = rec.slice(b + 1);
    // Names tar would rewrite or that are not valid UTF-8 make comparisons murky.
    if (path.includes("\n") || path.includes("\uFFFD")) continue;
    out.push({ kind: rec.slice(0, a), size: Number(rec.slice(a + 1, b)), path });
  }
  // Whole directories in a shuffled order: a layer holds some directories
  // entirely, not one file from each of thousands.
  const dirOf = (p: string): string => p.slice(0, p.lastIndexOf("/"));
  const key = new Map(out.map((c) => [c.path, fnv(dirOf(c.path))]));
  return out.sort((x, y) => key.get(x.path)! - key.get(y.path)! || (x.path < y.path ? -1 : 1));
}

/** Picks the paths: mostly small files for the count, large ones for the bytes. */
function pick(
  all: Candidate[],
  want: CorpusSize,
): { paths: string[]; files: number; symlinks: number } {
  const smallWanted = Math.max(1, Math.floor(want.files * 0.97));
  const chosen: string[] = [];
  let smallBytes = 0;
  let small = 0;
  for (const c of all) {
    if (small >= smallWanted) break;
    if (c.kind === "f" && c.size < SMALL) {
      chosen.push(c.path);
      smallBytes += c.size;
      small++;
    }
  }
  let bytes = smallBytes;
  let files = small;
  for (const c of all) {
    if (bytes >= want.bytes) break;
    if (c.kind === "f" && c.size >= SMALL && c.size <= MAX_FILE) {
      chosen.push(c.path);
      bytes += c.size;
      files++;
    }
  }
  let symlinks = 0;
  const symlinksWanted = Math.ceil(want.files / 20);
  for (const c of all) {
    if (symlinks >= symlinksWanted) break;
    if (c.kind === "l") {
      chosen.push(c.path);
      symlinks++;
    }
  }
  return { paths: chosen, files, symlinks };
}

/** Builds `layer.tar` and `layer.tar.gz` in `dir`. */
export async function buildCorpus(dir: string, want: CorpusSize): Promise<Corpus> {
  const picked = pick(await candidates(), want);
  // Every parent directory gets its own entry, as in real image layers.
  const dirs = new Set<string>();
  for (const p of picked.paths) {
    for (let d = p.slice(0, p.lastIndexOf("/")); d.length > 1; d = d.slice(0, d.lastIndexOf("/"))) {
      dirs.add(d);
    }
  }
  const list = [...dirs, ...picked.paths].map((p) => p.slice(1)).sort();
  const listFile = join(dir, "corpus.list");
  await Deno.writeTextFile(listFile, list.join("\0") + "\0");
  const tar = join(dir, "layer.tar");
  const gz = join(dir, "layer.tar.gz");
  await run([
    "tar",
    "-C",
    "/",
    "--no-recursion",
    "--null",
    "-T",
    listFile,
    "-cf",
    tar,
  ]);
  await run(["sh", "-c", 'gzip -c "$1" > "$2"', "sh", tar, gz]);
  const sha = (await run(["sha256sum", tar])).stdout.split(" ")[0];
  return {
    tar,
    gz,
    sha256: sha,
    tarBytes: (await Deno.stat(tar)).size,
    gzBytes: (await Deno.stat(gz)).size,
    files: picked.files,
    dirs: dirs.size,
    symlinks: picked.symlinks,
  };
}
