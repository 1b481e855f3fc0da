import type { Metric, Registry } from 'prom-client';
import { bucketIndex, LATENCY_BUCKETS_SECONDS } from './metric-windows.js';

/**
 * What one replica has seen of one model version since it started: the counts behind its
 * Prometheus counters and latency histogram. Counting is a few additions; labels are only
 * formatted when Prometheus scrapes, which is what keeps the request path cheap: prom-client's
 * own `inc` and `observe` hash the label set on every call.
 */
export class RequestTotals {
  ok = 0;
  errors = 0;
  sumSeconds = 0;
  /** Answered inputs per LATENCY_BUCKETS_SECONDS bucket (the last is +Inf), not cumulative. */
  readonly buckets = new Float64Array(LATENCY_BUCKETS_SECONDS.length + 1);
  /** Shadow copies this version answered, by whether it agreed with the primary. */
  shadowAgreed = 0;
  shadowDisagreed = 0;
  /** Feedback on this version's answers, by whether the answer was right. */
  feedbackCorrect = 0;
  feedbackIncorrect = 0;

  constructor(
    readonly model: string,
    readonly version: number,
  ) {}

  /** Counts one answered input and its latency; failed inputs are counted in `errors` only. */
  answered(seconds: number): void {
    this.ok += 1;
    this.sumSeconds += seconds;
    this.buckets[bucketIndex(seconds)]! += 1;
  }
}

const DURATION = 'mlops_gateway_request_duration_seconds';

/** One sample of a metric, as prom-client's registry formats it. */
interface Sample {
  metricName?: string;
  labels: Record<string, string | number>;
  value: number;
}

/**
 * The per-version metrics of one replica, exported from RequestTotals at scrape time:
 * requests by outcome, latency in seconds, shadow comparisons and feedback. Every version
 * counted has each outcome, zero included, so `rate()` has a series from the start.
 */
export class RequestMetrics {
  private readonly totals = new Map<string, RequestTotals>();

  /** The totals of one model version, made on first use; callers on a hot path keep them. */
  of(model: string, version: number): RequestTotals {
    const key = `${model}\u0000${version}`;
    let totals = this.totals.get(key);
    if (!totals) {
      totals = new RequestTotals(model, version);
      this.totals.set(key, totals);
    }
    return totals;
  }

  /** Adds the metrics to `registry`. */
  register(registry: Registry): void {
    const byOutcome = (
      name: string,
      help: string,
      outcomes: Record<string, (totals: RequestTotals) => number>,
    ) =>
      collector(name, help, 'counter', () =>
        this.each((totals, labels) =>
          Object.entries(outcomes).map(([outcome, value]) => ({
            labels: { ...labels, outcome },
            value: value(totals),
          })),
        ),
      );
    registry.registerMetric(
      byOutcome('mlops_gateway_requests_total', 'Inputs answered, by model, version and outcome', {
        ok: (t) => t.ok,
        error: (t) => t.errors,
      }),
    );
    registry.registerMetric(
      collector(
        DURATION,
        "Time in the version's runtime to answer an input, in seconds",
        'histogram',
        () => this.each(histogramSamples),
      ),
    );
    registry.registerMetric(
      byOutcome(
        'mlops_gateway_shadow_comparisons_total',
        'Shadow copies this version answered, by whether it agreed with the primary answer',
        { agree: (t) => t.shadowAgreed, disagree: (t) => t.shadowDisagreed },
      ),
    );
    registry.registerMetric(
      byOutcome(
        'mlops_gateway_feedback_total',
        "Feedback on this version's answers, by whether the answer was right",
        { correct: (t) => t.feedbackCorrect, incorrect: (t) => t.feedbackIncorrect },
      ),
    );
  }

  private each(
    samples: (totals: RequestTotals, labels: { model: string; version: string }) => Sample[],
  ): Sample[] {
    return [...this.totals.values()].flatMap((totals) =>
      samples(totals, { model: totals.model, version: String(totals.version) }),
    );
  }
}

function histogramSamples(
  totals: RequestTotals,
  labels: { model: string; version: string },
): Sample[] {
  const count = totals.ok;
  let cumulative = 0;
  return [
    ...LATENCY_BUCKETS_SECONDS.map((le, i) => {
      cumulative += totals.buckets[i]!;
      return { metricName: `${DURATION}_bucket`, labels: { le, ...labels }, value: cumulative };
    }),
    { metricName: `${DURATION}_bucket`, labels: { le: '+Inf', ...labels }, value: count },
    { metricName: `${DURATION}_sum`, labels, value: totals.sumSeconds },
    { metricName: `${DURATION}_count`, labels, value: count },
  ];
}

/**
 * A metric in the shape prom-client's registry reads from its own (name, help, type,
 * aggregator and get()), whose samples are read at scrape time: prom-client has no public
 * way to set a histogram's counts.
 */
function collector(
  name: string,
  help: string,
  type: 'counter' | 'histogram',
  samples: () => Sample[],
): Metric {
  const read = () => Promise.resolve({ name, help, type, aggregator: 'sum', values: samples() });
  return {
    name,
    help,
    type,
    aggregator: 'sum',
    get: read,
    getForPromString: read,
  } as unknown as Metric;
}
