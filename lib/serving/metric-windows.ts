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

/** The latency bucket of `seconds`: the first whose upper bound holds it, or +Inf. */
export function bucketIndex(seconds: number): number {
  for (let i = 0; i < LATENCY_BUCKETS_SECONDS.length; i++) {
    if (seconds <= LATENCY_BUCKETS_SECONDS[i]!) return i;
  }
  return LATENCY_BUCKETS_SECONDS.length;
}

/**
 * What one replica has seen of one model version since it started: what its Prometheus
 * metrics say (lib/serving/request-metrics.ts). Windows are flushed and forgotten; these
 * only grow.
 */
export class LifetimeCounts {
  answered = 0;
  errors = 0;
  latencySumSeconds = 0;
  /** Answered inputs per LATENCY_BUCKETS_SECONDS bucket (the last is +Inf), not cumulative. */
  readonly latencyBuckets = new Float64Array(LATENCY_BUCKETS_SECONDS.length + 1);
  /** Shadow copies this version answered, by whether it agreed with the primary. */
  shadowAgree = 0;
  shadowDisagree = 0;
  /** Feedback on this version's answers, by whether the answer was right. */
  feedbackCorrect = 0;
  feedbackIncorrect = 0;
}

/**
 * The open windows of one model version, and its lifetime counts. The gateway holds one per
 * version it serves, so that counting a request finds its window without building a key:
 * the current second's window is kept at hand. Each event counts in both at once.
 */
export class WindowSeries {
  /** Windows by the start of their second; at most a few are open at a time. */
  readonly open = new Map<number, WindowRow>();
  readonly lifetime = new LifetimeCounts();
  private current: WindowRow | null = null;

  constructor(
    readonly model: string,
    readonly version: number,
  ) {}

  /** An input this version answered at `atMs`, in `seconds`, with `label`. */
  answered(atMs: number, seconds: number, label: 'spam' | 'ham'): void {
    const bucket = bucketIndex(seconds);
    const window = this.at(atMs);
    window.requests += 1;
    window.latencyBuckets[bucket]! += 1;
    if (label === 'spam') window.predictedSpam += 1;
    else window.predictedHam += 1;
    this.lifetime.answered += 1;
    this.lifetime.latencySumSeconds += seconds;
    this.lifetime.latencyBuckets[bucket]! += 1;
  }

  /** An input this version failed; a failure has no answer time to count. */
  failed(atMs: number): void {
    const window = this.at(atMs);
    window.requests += 1;
    window.errors += 1;
    this.lifetime.errors += 1;
  }

  /** A shadow copy this version answered, agreeing with the primary answer or not. */
  compared(atMs: number, agreed: boolean): void {
    const window = this.at(atMs);
    if (agreed) {
      window.shadowAgree += 1;
      this.lifetime.shadowAgree += 1;
    } else {
      window.shadowDisagree += 1;
      this.lifetime.shadowDisagree += 1;
    }
  }

  /** Feedback on one of this version's answers, right or wrong. */
  labelled(atMs: number, correct: boolean): void {
    const window = this.at(atMs);
    if (correct) {
      window.feedbackCorrect += 1;
      this.lifetime.feedbackCorrect += 1;
    } else {
      window.feedbackIncorrect += 1;
      this.lifetime.feedbackIncorrect += 1;
    }
  }

  /** The window of `atMs`'s second, to add to; made when it is the first count of that second. */
  private at(atMs: number): WindowRow {
    const windowStartMs = atMs - (atMs % 1000);
    if (this.current?.windowStartMs === windowStartMs) return this.current;
    let row = this.open.get(windowStartMs);
    if (!row) {
      row = { model: this.model, version: this.version, windowStartMs, ...emptyCounts() };
      this.open.set(windowStartMs, row);
    }
    this.current = row;
    return row;
  }

  /** Hands out the windows whose second began before `startMs`; they stop being open. */
  takeBefore(startMs: number, into: WindowRow[]): void {
    for (const [windowStartMs, row] of this.open) {
      if (windowStartMs >= startMs) continue;
      into.push(row);
      this.open.delete(windowStartMs);
      if (this.current === row) this.current = null;
    }
  }
}

/**
 * One replica's metric windows, one per model, version and second. A window is handed
 * out for flushing only once its second is over, and is flushed whole, so writing it
 * again after a failed flush replaces rather than double counts. While the database is
 * unreachable, closed windows wait in a bounded buffer; past `maxWindows` the oldest are
 * dropped and counted in `lostWindows`.
 */
export class MetricWindows {
  private readonly series = new Map<string, WindowSeries>();
  private pending: WindowRow[] = [];
  lostWindows = 0;

  constructor(private readonly maxWindows = 10_000) {}

  /** The series of one model version, made on first use; callers on a hot path keep it. */
  seriesOf(model: string, version: number): WindowSeries {
    const key = `${model}\u0000${version}`;
    let series = this.series.get(key);
    if (!series) {
      series = new WindowSeries(model, version);
      this.series.set(key, series);
    }
    return series;
  }

  /** Closed windows (their second ended before `nowMs`), oldest first; they leave the buffer. */
  takeClosed(nowMs: number): WindowRow[] {
    const currentStart = nowMs - (nowMs % 1000);
    const closed: WindowRow[] = [];
    for (const series of this.series.values()) series.takeBefore(currentStart, closed);
    closed.sort((a, b) => a.windowStartMs - b.windowStartMs);
    const taken = [...this.pending, ...closed];
    this.pending = [];
    return taken;
  }

  /**
   * Copies of the windows still open. Writing them early lets checks see the current second
   * within one flush interval; the final write after the second ends replaces them.
   */
  peekOpen(): WindowRow[] {
    return this.openRows().map((row) => ({ ...row, latencyBuckets: [...row.latencyBuckets] }));
  }

  /** Puts windows back after a failed flush, keeping at most `maxWindows` (newest win). */
  giveBack(rows: WindowRow[]): void {
    this.pending = [...rows, ...this.pending];
    const excess = this.pending.length + this.openRows().length - this.maxWindows;
    if (excess > 0) {
      this.pending.splice(0, excess);
      this.lostWindows += excess;
    }
  }

  /** Every series made so far: each version this replica has counted for. */
  allSeries(): Iterable<WindowSeries> {
    return this.series.values();
  }

  get bufferedWindows(): number {
    return this.pending.length + this.openRows().length;
  }

  private openRows(): WindowRow[] {
    return [...this.series.values()].flatMap((series) => [...series.open.values()]);
  }
}
