import type { Metric, Registry } from 'prom-client';
import {
  LATENCY_BUCKETS_SECONDS,
  type LifetimeCounts,
  type MetricWindows,
  type WindowSeries,
} from './metric-windows.js';

const DURATION = 'mlops_gateway_request_duration_seconds';

/** One sample of a metric, as prom-client's registry formats it. */
interface Sample {
  metricName?: string;
  labels: Record<string, string | number>;
  value: number;
}

type Labels = { model: string; version: string };

/**
 * Adds one replica's per-version metrics to `registry`, read from the lifetime counts of
 * `windows` at scrape time: inputs by outcome, latency in seconds, shadow comparisons and
 * feedback. Labels are formatted only when Prometheus scrapes, which keeps the request path
 * cheap (prom-client's own `inc` and `observe` hash the label set on every call). Every
 * version counted has each outcome, zero included, so `rate()` has a series from the start.
 */
export function registerVersionMetrics(registry: Registry, windows: MetricWindows): void {
  const each = (samples: (series: WindowSeries, labels: Labels) => Sample[]) => (): Sample[] =>
    [...windows.allSeries()].flatMap((series) =>
      samples(series, { model: series.model, version: String(series.version) }),
    );
  const byOutcome = (
    name: string,
    help: string,
    outcomes: Record<string, (lifetime: LifetimeCounts) => number>,
  ) =>
    collector(
      name,
      help,
      'counter',
      each((series, labels) =>
        Object.entries(outcomes).map(([outcome, value]) => ({
          labels: { ...labels, outcome },
          value: value(series.lifetime),
        })),
      ),
    );

  registry.registerMetric(
    byOutcome('mlops_gateway_requests_total', 'Inputs answered, by model, version and outcome', {
      ok: (counts) => counts.answered,
      error: (counts) => counts.errors,
    }),
  );
  registry.registerMetric(
    collector(
      DURATION,
      "Time in the version's runtime to answer an input, in seconds",
      'histogram',
      each(histogramSamples),
    ),
  );
  registry.registerMetric(
    byOutcome(
      'mlops_gateway_shadow_comparisons_total',
      'Shadow copies this version answered, by whether it agreed with the primary answer',
      { agree: (counts) => counts.shadowAgree, disagree: (counts) => counts.shadowDisagree },
    ),
  );
  registry.registerMetric(
    byOutcome(
      'mlops_gateway_feedback_total',
      "Feedback on this version's answers, by whether the answer was right",
      {
        correct: (counts) => counts.feedbackCorrect,
        incorrect: (counts) => counts.feedbackIncorrect,
      },
    ),
  );
}

function histogramSamples({ lifetime }: WindowSeries, labels: Labels): Sample[] {
  let cumulative = 0;
  return [
    ...LATENCY_BUCKETS_SECONDS.map((le, i) => {
      cumulative += lifetime.latencyBuckets[i]!;
      return { metricName: `${DURATION}_bucket`, labels: { le, ...labels }, value: cumulative };
    }),
    {
      metricName: `${DURATION}_bucket`,
      labels: { le: '+Inf', ...labels },
      value: lifetime.answered,
    },
    { metricName: `${DURATION}_sum`, labels, value: lifetime.latencySumSeconds },
    { metricName: `${DURATION}_count`, labels, value: lifetime.answered },
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
