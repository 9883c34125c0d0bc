/**
 * An in-process, async reader/writer mutex with the fairness of Go's
 * `sync.RWMutex`: once a writer is waiting, new readers queue behind it, so a
 * steady stream of readers cannot starve writers.
 *
 * @module
 */

interface Waiter {
  readonly writer: boolean;
  readonly grant: () => void;
}

/**
 * A FIFO reader/writer mutex for async code. Holders are granted in arrival
 * order; consecutive readers at the head of the queue are granted together.
 * Ownership is not tracked: any code may release a hold it knows exists.
 */
export class RwMutex {
  // All three fields are touched only from the (single) JS thread, and
  // state changes happen at grant time, before the waiter resumes, so a
  // late arrival can never slip in between a release and the next grant.
  #readers = 0;
  #writer = false;
  #queue: Waiter[] = [];

  /** Waits for exclusive ownership. */
  lock(): Promise<void> {
    if (!this.#writer && this.#readers === 0 && this.#queue.length === 0) {
      this.#writer = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#queue.push({ writer: true, grant: resolve }));
  }

  /** Waits for shared ownership; queues behind any waiting writer. */
  rLock(): Promise<void> {
    if (!this.#writer && this.#queue.length === 0) {
      this.#readers++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#queue.push({ writer: false, grant: resolve }));
  }

  /** Releases exclusive ownership; throws if no writer holds the mutex. */
  unlock(): void {
    if (!this.#writer) throw new Error("RwMutex.unlock: not locked for writing");
    this.#writer = false;
    this.#grantWaiters();
  }

  /** Releases one shared hold; throws if no reader holds the mutex. */
  rUnlock(): void {
    if (this.#readers === 0) throw new Error("RwMutex.rUnlock: not locked for reading");
    this.#readers--;
    if (this.#readers === 0) this.#grantWaiters();
  }

  /** Current holders, for diagnostics and tests. */
  state(): { readers: number; writer: boolean; waiting: number } {
    return { readers: this.#readers, writer: this.#writer, waiting: this.#queue.length };
  }

  #grantWaiters(): void {
    while (this.#queue.length > 0 && !this.#writer) {
      const next = this.#queue[0];
      if (next.writer) {
        if (this.#readers > 0) return;
        this.#queue.shift();
        this.#writer = true;
        next.grant();
        return;
      }
      this.#queue.shift();
      this.#readers++;
      next.grant();
    }
  }
}
