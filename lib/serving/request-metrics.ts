import type { Metric, Registry } from 'prom-client';
import { LATENCY_BUCKETS_SECONDS } from './metric-windows.js';

/**
 * What one replica has answered with one model version since it started: the counts behind
 * its Prometheus request counter and latency histogram. Counting is three additions; labels
 * are only formatted when Prometheus scrapes, which is what keeps the request path cheap:
 * prom-client's own `inc` and `observe` hash the label set on every call.
 */
export class RequestTotals {
  ok = 0;
  errors = 0;
  sumSeconds = 0;
  /** Requests per LATENCY_BUCKETS_SECONDS bucket (the last is +Inf), not cumulative. */
  readonly buckets = new Float64Array(LATENCY_BUCKETS_SECONDS.length + 1);

  constructor(
    readonly model: string,
    readonly version: number,
  ) {}

  /** Counts one answered input, whose latency falls in bucket `bucket` (see `bucketIndex`). */
  count(outcome: 'ok' | 'error', seconds: number, bucket: number): void {
    if (outcome === 'ok') this.ok += 1;
    else this.errors += 1;
    this.sumSeconds += seconds;
    this.buckets[bucket]! += 1;
  }
}

const REQUESTS = 'mlops_gateway_requests_total';
const DURATION = 'mlops_gateway_request_duration_seconds';

/**
 * The request counter (by model, version and outcome) and latency histogram (by model and
 * version, in seconds) of one replica, exported from RequestTotals at scrape time. Every
 * version counted has both outcomes, zero included, so `rate()` has a series from the start.
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

  /** Adds both metrics to `registry`. */
  register(registry: Registry): void {
    // A collector in the shape prom-client's registry reads from its own metrics (name, help,
    // type, aggregator and get()): prom-client has no public way to set a histogram's counts.
    const collector = (
      name: string,
      help: string,
      type: 'counter' | 'histogram',
      values: () => unknown[],
    ) => {
      const read = () => Promise.resolve({ name, help, type, aggregator: 'sum', values: values() });
      return { name, help, type, aggregator: 'sum', get: read, getForPromString: read };
    };
    registry.registerMetric(
      collector(REQUESTS, 'Predictions by model, version and outcome', 'counter', () =>
        [...this.totals.values()].flatMap((t) => {
          const labels = { model: t.model, version: String(t.version) };
          return [
            { labels: { ...labels, outcome: 'ok' }, value: t.ok },
            { labels: { ...labels, outcome: 'error' }, value: t.errors },
          ];
        }),
      ) as unknown as Metric,
    );
    registry.registerMetric(
      collector(DURATION, 'Prediction latency in seconds', 'histogram', () =>
        [...this.totals.values()].flatMap((t) => {
          const labels = { model: t.model, version: String(t.version) };
          const count = t.ok + t.errors;
          let cumulative = 0;
          return [
            ...LATENCY_BUCKETS_SECONDS.map((le, i) => {
              cumulative += t.buckets[i]!;
              return {
                metricName: `${DURATION}_bucket`,
                labels: { le, ...labels },
                value: cumulative,
              };
            }),
            { metricName: `${DURATION}_bucket`, labels: { le: '+Inf', ...labels }, value: count },
            { metricName: `${DURATION}_sum`, labels, value: t.sumSeconds },
            { metricName: `${DURATION}_count`, labels, value: count },
          ];
        }),
      ) as unknown as Metric,
    );
  }
}
