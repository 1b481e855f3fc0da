/**
 * Runs shadow work off the request path with bounded concurrency and a bounded queue.
 * Work that does not fit is dropped and counted, never waited for: a shadow copy must
 * not delay or change the primary answer.
 */
export class ShadowQueue {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  dropped = 0;

  constructor(
    private readonly concurrency = 2,
    private readonly limit = 1000,
  ) {}

  /** Schedules `job` after the current I/O turn; false when it was dropped. */
  offer(job: () => void): boolean {
    if (this.running < this.concurrency) {
      this.start(job);
      return true;
    }
    if (this.waiting.length >= this.limit) {
      this.dropped += 1;
      return false;
    }
    this.waiting.push(job);
    return true;
  }

  get depth(): number {
    return this.waiting.length;
  }

  private start(job: () => void): void {
    this.running += 1;
    setImmediate(() => {
      try {
        job();
      } finally {
        this.running -= 1;
        const next = this.waiting.shift();
        if (next) this.start(next);
      }
    });
  }
}
