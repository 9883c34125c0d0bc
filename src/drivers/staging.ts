/**
 * Private staging directories where a layer's contents are built without
 * holding any store lock (design: readers never wait for an extraction).
 *
 * `<home>/cstor-staging/<name>/` is the work area and `<name>.lock` beside it
 * is held (flock) by the process working in it for as long as it works. A
 * directory whose lock can be taken belongs to a process that died: it is
 * removed. Go's tools ignore this directory (its name is not a layer ID).
 *
 * @module
 */

import { join } from "../path.ts";
import { isNotFound } from "../errors.ts";

/** The staging area of a driver home. */
export function stagingRoot(home: string): string {
  return join(home, "cstor-staging");
}

/** A staging directory and the lock that marks it as in use. */
export interface StagingDir {
  readonly dir: string;
  release(): void;
}

/**
 * Creates a new staging directory under `home`, locked by this process.
 * The lock file is made and locked under a temporary name first, then
 * renamed, so a cleaner never sees an unlocked lock file of a live worker.
 */
export async function createStagingDir(home: string): Promise<StagingDir> {
  const root = stagingRoot(home);
  await Deno.mkdir(root, { recursive: true, mode: 0o700 });
  for (let attempt = 0;; attempt++) {
    try {
      return await tryCreateStagingDir(root);
    } catch (err) {
      // A cleaner may take our fresh `.lock-new` for a dead process's
      // (between its creation and our lock) and remove it: start over.
      if (!isNotFound(err) || attempt >= 4) throw err;
    }
  }
}

async function tryCreateStagingDir(root: string): Promise<StagingDir> {
  const name = crypto.randomUUID();
  const tmpLock = join(root, `.${name}.lock-new`);
  const lockPath = join(root, `${name}.lock`);
  const file = await Deno.open(tmpLock, { write: true, createNew: true, mode: 0o600 });
  try {
    await file.lock(true);
    await Deno.rename(tmpLock, lockPath);
    const dir = join(root, name);
    await Deno.mkdir(dir, { mode: 0o700 });
    let released = false;
    return {
      dir,
      release() {
        if (released) return;
        released = true;
        try {
          Deno.removeSync(lockPath);
        } catch { /* already gone */ }
        file.close();
      },
    };
  } catch (err) {
    file.close();
    await Deno.remove(tmpLock).catch(() => {});
    await Deno.remove(lockPath).catch(() => {});
    throw err;
  }
}

/** Removes staging directories whose owner is gone. */
export async function removeStaleStagingDirs(home: string): Promise<void> {
  const root = stagingRoot(home);
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(root));
  } catch (err) {
    if (isNotFound(err)) return;
    throw err;
  }
  const locks = new Set(entries.filter((e) => e.name.endsWith(".lock")).map((e) => e.name));
  for (const entry of entries) {
    if (!entry.isDirectory) continue;
    const lockName = `${entry.name}.lock`;
    const dir = join(root, entry.name);
    // The listing may have missed a lock renamed into place while it ran.
    if (!locks.has(lockName) && !(await exists(join(root, lockName)))) {
      // The owner's lock is gone: a cleaner died after removing it.
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      continue;
    }
    let file: Deno.FsFile;
    try {
      file = await Deno.open(join(root, lockName), { write: true });
    } catch {
      continue;
    }
    try {
      if (!(await file.tryLock(true))) continue; // its owner is alive
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      await Deno.remove(join(root, lockName)).catch(() => {});
    } finally {
      file.close();
    }
  }
  // Lock files whose directory is gone or was never made: a process killed
  // while creating or releasing its staging directory. A live owner holds
  // its lock (a `.lock-new` only for an instant, and it retries if we win).
  const dirs = new Set(entries.filter((e) => e.isDirectory).map((e) => e.name));
  for (const entry of entries) {
    if (!entry.isFile) continue;
    const name = entry.name.endsWith(".lock")
      ? entry.name.slice(0, -".lock".length)
      : entry.name.endsWith(".lock-new")
      ? entry.name.slice(1, -".lock-new".length)
      : undefined;
    if (name === undefined || dirs.has(name)) continue;
    let file: Deno.FsFile;
    try {
      file = await Deno.open(join(root, entry.name), { write: true });
    } catch {
      continue;
    }
    try {
      if (await file.tryLock(true)) await Deno.remove(join(root, entry.name)).catch(() => {});
    } finally {
      file.close();
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}
