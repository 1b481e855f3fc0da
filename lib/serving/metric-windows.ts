/** Upper bounds (seconds) of the latency buckets every replica uses; the last is +Inf. */
export const LATENCY_BUCKETS_SECONDS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

/** What one replica saw of one model version during one second. */
export interface WindowCounts {
  requests: number;
  errors: number;
  /** One count per LATENCY_BUCKETS_SECONDS entry, plus one for +Inf. */
  latencyBuckets: number[];
  predictedSpam: number;
  predictedHam: number;
  feedbackCorrect: number;
  feedbackIncorrect: number;
  shadowAgree: number;
  shadowDisagree: number;
}

export interface WindowRow extends WindowCounts {
  model: string;
  version: number;
  /** Start of the second, in ms since the epoch. */
  windowStartMs: number;
}

export function emptyCounts(): WindowCounts {
  return {
    requests: 0,
    errors: 0,
    latencyBuckets: new Array<number>(LATENCY_BUCKETS_SECONDS.length + 1).fill(0),
    predictedSpam: 0,
    predictedHam: 0,
    feedbackCorrect: 0,
    feedbackIncorrect: 0,
    shadowAgree: 0,
    shadowDisagree: 0,
  };
}

export function bucketIndex(seconds: number): number {
  const index = LATENCY_BUCKETS_SECONDS.findIndex((bound) => seconds <= bound);
  return index === -1 ? LATENCY_BUCKETS_SECONDS.length : index;
}

/**
 * One replica's metric windows, one per model, version and second. A window is handed
 * out for flushing only once its second is over, and is flushed whole, so writing it
 * again after a failed flush replaces rather than double counts. While the database is
 * unreachable, closed windows wait in a bounded buffer; past `maxWindows` the oldest are
 * dropped and counted in `lostWindows`.
 */
export class MetricWindows {
  private readonly open = new Map<string, WindowRow>();
  private pending: WindowRow[] = [];
  lostWindows = 0;

  constructor(private readonly maxWindows = 10_000) {}

  /** Adds to the window of `atMs`'s second for this model version. */
  record(
    model: string,
    version: number,
    atMs: number,
    update: (counts: WindowCounts) => void,
  ): void {
    const windowStartMs = Math.floor(atMs / 1000) * 1000;
    const key = `${model}\u0000${version}\u0000${windowStartMs}`;
    let row = this.open.get(key);
    if (!row) {
      row = { model, version, windowStartMs, ...emptyCounts() };
      this.open.set(key, row);
    }
    update(row);
  }

  /** Closed windows (their second ended before `nowMs`), oldest first; they leave the buffer. */
  takeClosed(nowMs: number): WindowRow[] {
    const currentStart = Math.floor(nowMs / 1000) * 1000;
    for (const [key, row] of this.open) {
      if (row.windowStartMs < currentStart) {
        this.pending.push(row);
        this.open.delete(key);
      }
    }
    const taken = this.pending;
    this.pending = [];
    return taken;
  }

  /**
   * Copies of the windows still open. Writing them early lets checks see the current second
   * within one flush interval; the final write after the second ends replaces them.
   */
  peekOpen(): WindowRow[] {
    return [...this.open.values()].map((row) => ({
      ...row,
      latencyBuckets: [...row.latencyBuckets],
    }));
  }

  /** Puts windows back after a failed flush, keeping at most `maxWindows` (newest win). */
  giveBack(rows: WindowRow[]): void {
    this.pending = [...rows, ...this.pending];
    const excess = this.pending.length + this.open.size - this.maxWindows;
    if (excess > 0) {
      this.pending.splice(0, excess);
      this.lostWindows += excess;
    }
  }

  get bufferedWindows(): number {
    return this.pending.length + this.open.size;
  }
}
