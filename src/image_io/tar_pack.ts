/**
 * Packing a directory tree (an OCI layout) into a tar file, for
 * `oci-archive:` destinations. The archive is written under a temporary
 * name beside the target and renamed over it when complete.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { TarWriter } from "../archive/tar_writer.ts";
import { TYPE } from "../archive/tar_types.ts";

async function listTree(root: string, rel = ""): Promise<{ rel: string; dir: boolean }[]> {
  const out: { rel: string; dir: boolean }[] = [];
  const names: { name: string; dir: boolean }[] = [];
  for await (const e of Deno.readDir(join(root, rel))) {
    names.push({ name: e.name, dir: e.isDirectory });
  }
  names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const n of names) {
    const path = rel ? `${rel}/${n.name}` : n.name;
    out.push({ rel: path, dir: n.dir });
    if (n.dir) out.push(...await listTree(root, path));
  }
  return out;
}

/** Writes the tree under `root` as a tar archive to `target` (replacing it). */
export async function packDirectory(root: string, target: string): Promise<void> {
  const temp = await Deno.makeTempFile({ dir: dirname(target), prefix: ".tmp-archive-" });
  try {
    const file = await Deno.open(temp, { write: true, truncate: true });
    try {
      const tw = new TarWriter({
        async write(chunk) {
          let off = 0;
          while (off < chunk.length) off += await file.write(chunk.subarray(off));
        },
      });
      const mtimeSec = Math.floor(Date.now() / 1000);
      for (const e of await listTree(root)) {
        const abs = join(root, e.rel);
        if (e.dir) {
          await tw.writeHeader({ name: `${e.rel}/`, type: TYPE.dir, mode: 0o755, mtimeSec });
          continue;
        }
        const info = await Deno.stat(abs);
        const src = await Deno.open(abs, { read: true });
        try {
          await tw.writeEntry(
            { name: e.rel, type: TYPE.file, mode: 0o644, size: info.size, mtimeSec },
            src.readable,
          );
        } finally {
          try {
            src.close();
          } catch {
            // closed by its stream
          }
        }
      }
      await tw.close();
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.chmod(temp, 0o644);
    await Deno.rename(temp, target);
  } catch (err) {
    await Deno.remove(temp).catch(() => {});
    throw err;
  }
}
