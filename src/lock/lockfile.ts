/**
 * Lock files with the semantics of containers/storage's `pkg/lockfile`
 * (spec/locking.md §1): one object per path per process, an in-process
 * reader/writer mutex in front of a whole-file lock, and a change token as
 * the file's content.
 *
 * Two kinds of file lock are taken, always in this order:
 *
 * 1. `flock(2)` through `Deno.FsFile.lock()`, on a Deno-opened descriptor.
 *    Every cstor process takes it, with or without FFI.
 * 2. With FFI only, an open-file-description `fcntl` lock (`F_OFD_SETLKW`)
 *    on a libc-opened descriptor. Linux keeps flock and fcntl locks apart, and
 *    Go processes only take classic `fcntl` locks, which conflict with OFD
 *    locks but not with flock.
 *
 * The fixed order is what keeps two cstor processes from deadlocking (one
 * holding flock and waiting for fcntl while the other holds fcntl and waits
 * for flock). flock comes first because it is the lock all cstor processes
 * share: they queue among themselves there, and only the winner then holds
 * the Go-visible fcntl lock, so Go processes are never kept waiting by a
 * cstor process that is itself still waiting.
 *
 * Both locks belong to an open file description, not to the process, so
 * lock objects in different Workers of one process (each isolate has its own
 * registry) still exclude each other, as separate processes do.
 *
 * @module
 */

import { dirname, resolve } from "../path.ts";
import { StorageError } from "../errors.ts";
import {
  closeFd,
  ffiAvailable,
  ffiUnavailableReason,
  O_CREAT,
  O_RDONLY,
  O_RDWR,
  ofdLock,
  ofdTryLock,
  openFd,
  preadFd,
  pwriteFd,
} from "../sys/libc.ts";
import { LAST_WRITE_SIZE, type LastWrite, newLastWrite, sameLastWrite } from "./last_write.ts";
import { RwMutex } from "./rw_mutex.ts";

/** A lock file: an in-process reader/writer mutex plus a cross-process file lock. */
export interface LockFile {
  /** Absolute path of the lock file. */
  readonly path: string;
  /** True for objects that may only be locked shared (additional stores). */
  readonly readOnly: boolean;
  /** Takes the lock exclusively; rejects on a read-only object. */
  lock(): Promise<void>;
  /** Takes the lock shared; in-process readers share one file lock. */
  rLock(): Promise<void>;
  /** Releases one hold of either kind; throws when nothing is held. */
  unlock(): void;
  /** What this process currently holds. */
  held(): "none" | "shared" | "exclusive";
  /** The current token (up to 64 bytes at offset 0); requires a hold. */
  getLastWrite(): LastWrite;
  /** Writes and returns a fresh 64-byte token; requires the exclusive hold. */
  recordWrite(): LastWrite;
  /** Whether the token differs from `prev`, and the current token; requires a hold. */
  modifiedSince(prev: LastWrite): { modified: boolean; current: LastWrite };
}

/** Descriptors open while the lock is held by anyone in this process. */
interface Handle {
  /** Carries the flock. */
  readonly file: Deno.FsFile;
  /** Carries the OFD fcntl lock and is used for token I/O; null without FFI. */
  readonly fd: number | null;
}

type Held = "none" | "shared" | "exclusive";

// Guarded by nothing but the single JS thread: process-wide registry.
const registry = new Map<string, LockFileImpl>();

// Also only touched from the JS thread; `warned` makes the no-FFI warning
// once per process (per isolate, strictly: a Worker has its own copy).
let warn: (message: string) => void = (message) => console.error(message);
let warned = false;

/**
 * Replaces the function that receives lock warnings (by default they go to
 * stderr). There is one warning today: running without FFI, which means Go
 * processes sharing the store are not excluded.
 */
export function setLockWarningHandler(fn: (message: string) => void): void {
  warn = fn;
}

/**
 * The process-wide lock object for `path` (made absolute). The file is
 * created (mode 0644, parent directory 0700) and opened once to check access.
 * Asking for a read-only object on a path registered read-write, or the
 * reverse, throws.
 */
export function getLockFile(path: string, options?: { readOnly?: boolean }): LockFile {
  const abs = resolve(path);
  const readOnly = options?.readOnly ?? false;
  const known = registry.get(abs);
  if (known !== undefined) {
    if (known.readOnly !== readOnly) {
      throw lockError(
        abs,
        `already opened ${known.readOnly ? "read-only" : "read-write"}, ` +
          `cannot also open it ${readOnly ? "read-only" : "read-write"}`,
      );
    }
    return known;
  }
  openFile(abs, readOnly).close();
  const lock = new LockFileImpl(abs, readOnly);
  registry.set(abs, lock);
  return lock;
}

class LockFileImpl implements LockFile {
  readonly path: string;
  readonly readOnly: boolean;
  readonly #mutex = new RwMutex();
  // Guarded by #mutex: non-null exactly while #holds > 0 (and briefly
  // before the first hold completes); shared by all in-process readers.
  #handle: Handle | null = null;
  // Guarded by #mutex (read side): the first reader's file-lock
  // acquisition, joined by readers that arrive while it is pending.
  #acquiring: Promise<void> | null = null;
  // Guarded by #mutex: completed holds, 1 for a writer, n for readers.
  #holds = 0;
  // Guarded by #mutex: kind of the current holds.
  #held: Held = "none";

  constructor(path: string, readOnly: boolean) {
    this.path = path;
    this.readOnly = readOnly;
  }

  async lock(): Promise<void> {
    if (this.readOnly) {
      throw lockError(this.path, "opened read-only, cannot be locked exclusively");
    }
    await this.#mutex.lock();
    try {
      this.#handle = await acquire(this.path, false, true);
    } catch (err) {
      this.#mutex.unlock();
      throw err;
    }
    this.#holds = 1;
    this.#held = "exclusive";
  }

  async rLock(): Promise<void> {
    await this.#mutex.rLock();
    try {
      // A loop, not an if: the hold we waited for can be released by its
      // last reader before this task resumes, closing the descriptors.
      while (this.#handle === null) {
        this.#acquiring ??= acquire(this.path, this.readOnly, false)
          .then((handle) => {
            this.#handle = handle;
          })
          .finally(() => {
            this.#acquiring = null;
          });
        await this.#acquiring;
      }
    } catch (err) {
      this.#mutex.rUnlock();
      throw err;
    }
    this.#holds++;
    this.#held = "shared";
  }

  unlock(): void {
    if (this.#holds === 0 || this.#handle === null) {
      throw lockError(this.path, "unlocking a lock that is not held");
    }
    const wasExclusive = this.#held === "exclusive";
    this.#holds--;
    if (this.#holds === 0) {
      const handle = this.#handle;
      this.#handle = null;
      this.#held = "none";
      closeHandle(handle);
    }
    if (wasExclusive) this.#mutex.unlock();
    else this.#mutex.rUnlock();
  }

  held(): Held {
    return this.#held;
  }

  getLastWrite(): LastWrite {
    return readToken(this.#requireHold("reading the last-write token"));
  }

  recordWrite(): LastWrite {
    const handle = this.#requireHold("recording a write");
    if (this.#held !== "exclusive") {
      throw lockError(this.path, "recording a write needs the exclusive lock");
    }
    const token = newLastWrite();
    try {
      writeToken(handle, token);
    } catch (err) {
      throw lockError(this.path, `writing the last-write token: ${describe(err)}`, err);
    }
    return token;
  }

  modifiedSince(prev: LastWrite): { modified: boolean; current: LastWrite } {
    const current = this.getLastWrite();
    return { modified: !sameLastWrite(prev, current), current };
  }

  #requireHold(what: string): Handle {
    if (this.#holds === 0 || this.#handle === null) {
      throw lockError(this.path, `${what} needs the lock to be held`);
    }
    return this.#handle;
  }
}

/** Opens the descriptors and takes both file locks, in the documented order. */
async function acquire(path: string, readOnly: boolean, exclusive: boolean): Promise<Handle> {
  const handle = openHandle(path, readOnly);
  try {
    await handle.file.lock(exclusive);
    if (handle.fd === null) {
      warnNoFfiOnce();
    } else if (!ofdTryLock(handle.fd, exclusive)) {
      await ofdLock(handle.fd, exclusive);
    }
  } catch (err) {
    closeHandle(handle);
    throw lockError(path, `taking the file lock: ${describe(err)}`, err);
  }
  return handle;
}

function openHandle(path: string, readOnly: boolean): Handle {
  if (!ffiAvailable()) return { file: openFile(path, readOnly), fd: null };
  // Two separate opens can see two different files if the lock file is
  // replaced in between; locking different inodes would exclude nobody.
  for (let attempt = 0; attempt < 5; attempt++) {
    const file = openFile(path, readOnly);
    let fd: number;
    try {
      fd = openFd(path, (readOnly ? O_RDONLY : O_RDWR) | O_CREAT, 0o644);
    } catch (err) {
      file.close();
      throw lockError(path, describe(err), err);
    }
    if (sameFile(file, path)) return { file, fd };
    closeFd(fd);
    file.close();
  }
  throw lockError(path, "the file keeps being replaced while it is opened");
}

// The libc descriptor was opened by path between the FsFile's open and this
// stat; if the path still names the FsFile's inode (which cannot be reused
// while the FsFile is open), both descriptors refer to that inode.
function sameFile(file: Deno.FsFile, path: string): boolean {
  try {
    const a = file.statSync();
    const b = Deno.statSync(path);
    return a.ino === b.ino && a.dev === b.dev;
  } catch {
    return false;
  }
}

function closeHandle(handle: Handle): void {
  // Closing drops the lock held through each descriptor; the OFD lock goes
  // first, the reverse of the order it was taken in.
  if (handle.fd !== null) closeFd(handle.fd);
  handle.file.close();
}

/**
 * Opens the lock file as Go would (O_RDWR|O_CREAT or O_RDONLY|O_CREAT, mode
 * 0644, recreating a missing parent directory 0700), but fails where Go would
 * loop forever (a dangling symlink into a missing directory) and refuses
 * anything that is not a regular file.
 */
function openFile(path: string, readOnly: boolean): Deno.FsFile {
  let file: Deno.FsFile;
  try {
    file = openCreating(path, readOnly);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw openError(path, err);
    try {
      Deno.mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    } catch (mkdirErr) {
      throw lockError(
        path,
        `creating its directory ${dirname(path)}: ${describe(mkdirErr)}`,
        mkdirErr,
      );
    }
    try {
      file = openCreating(path, readOnly);
    } catch (retryErr) {
      if (retryErr instanceof Deno.errors.NotFound) throw missingError(path, retryErr);
      throw openError(path, retryErr);
    }
  }
  let info: Deno.FileInfo;
  try {
    info = file.statSync();
  } catch (err) {
    file.close();
    throw openError(path, err);
  }
  if (!info.isFile) {
    file.close();
    throw lockError(path, info.isDirectory ? "is a directory" : "is not a regular file");
  }
  return file;
}

function openCreating(path: string, readOnly: boolean): Deno.FsFile {
  if (!readOnly) {
    return Deno.openSync(path, { read: true, write: true, create: true, mode: 0o644 });
  }
  // Deno cannot say O_RDONLY|O_CREAT; create first only when missing, so an
  // existing file on a read-only mount still opens.
  try {
    return Deno.openSync(path, { read: true });
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  Deno.openSync(path, { write: true, create: true, mode: 0o644 }).close();
  return Deno.openSync(path, { read: true });
}

function missingError(path: string, cause: unknown): StorageError {
  let target: string | undefined;
  try {
    if (Deno.lstatSync(path).isSymlink) target = Deno.readLinkSync(path);
  } catch {
    // Vanished or unreadable: report the plain failure below.
  }
  if (target !== undefined) {
    return lockError(path, `is a dangling symlink (to ${target}) that cannot be created`, cause);
  }
  return lockError(path, `cannot be created: ${describe(cause)}`, cause);
}

function openError(path: string, err: unknown): StorageError {
  if (err instanceof StorageError) return err;
  if (err instanceof Deno.errors.IsADirectory) return lockError(path, "is a directory", err);
  if (err instanceof Deno.errors.PermissionDenied) {
    return lockError(path, "cannot be opened: permission denied", err);
  }
  // Deno's own permission check; its message names the missing flag.
  return lockError(path, `cannot be opened: ${describe(err)}`, err);
}

function readToken(handle: Handle): LastWrite {
  const buf = new Uint8Array(LAST_WRITE_SIZE);
  let n = 0;
  if (handle.fd !== null) {
    while (n < buf.length) {
      const chunk = new Uint8Array(buf.length - n);
      const got = preadFd(handle.fd, chunk, n);
      if (got === 0) break;
      buf.set(chunk.subarray(0, got), n);
      n += got;
    }
  } else {
    // Synchronous calls only: a seek and a read must not be split by
    // another task using the same FsFile.
    handle.file.seekSync(0, Deno.SeekMode.Start);
    while (n < buf.length) {
      const got = handle.file.readSync(buf.subarray(n));
      if (got === null || got === 0) break;
      n += got;
    }
  }
  return buf.slice(0, n);
}

// Never truncates: bytes past 64 written by someone else stay, and only the
// first 64 are ever compared.
function writeToken(handle: Handle, token: LastWrite): void {
  const buf = new Uint8Array(token);
  if (handle.fd !== null) {
    pwriteFd(handle.fd, buf, 0);
    return;
  }
  handle.file.seekSync(0, Deno.SeekMode.Start);
  let n = 0;
  while (n < buf.length) n += handle.file.writeSync(buf.subarray(n));
}

function warnNoFfiOnce(): void {
  if (warned) return;
  warned = true;
  warn(
    `cstor: warning: ${ffiUnavailableReason() ?? "FFI unavailable"}: lock files are ` +
      "locked with flock() only, which does not exclude Go processes " +
      "(containers-storage, podman, buildah, skopeo) using the same store; " +
      "run with --allow-ffi to take their fcntl locks too",
  );
}

function lockError(path: string, problem: string, cause?: unknown): StorageError {
  return new StorageError("lock-failed", undefined, {
    message: `cannot use lock file ${JSON.stringify(path)}: ${problem}`,
    cause,
  });
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
