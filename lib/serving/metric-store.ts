import type { Queryable } from '../db/db.js';
import { LATENCY_BUCKETS_SECONDS, type WindowRow } from './metric-windows.js';

/** Predictions to log, one array per column, a prediction per index. */
export interface PredictionColumns {
  ids: string[];
  models: string[];
  versions: number[];
  labels: Array<'spam' | 'ham'>;
  /** When each was made, in ms since the epoch. */
  at: number[];
  feedbackLabels: Array<'spam' | 'ham' | null>;
  feedbackAt: Array<number | null>;
}

/**
 * Adds predictions to the log; one already there is left as it is, so a batch written again
 * after a failure the database did not report is harmless. One array per column: PostgreSQL
 * spends about half to three quarters of the CPU on them that it spends on the same rows as
 * one JSON document (npm run bench:prediction-log).
 */
export async function insertPredictions(db: Queryable, rows: PredictionColumns): Promise<void> {
  await db.query(
    `INSERT INTO predictions (id, model, version, label, at, feedback_label, feedback_at)
     SELECT p.id, p.model, p.version, p.label, to_timestamp(p.at / 1000.0),
            p.feedback_label, to_timestamp(p.feedback_at / 1000.0)
       FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::float8[],
                   $6::text[], $7::float8[])
         AS p(id, model, version, label, at, feedback_label, feedback_at)
     ON CONFLICT (id) DO NOTHING`,
    [
      plainArray(rows.ids),
      rows.models,
      plainArray(rows.versions),
      plainArray(rows.labels),
      plainArray(rows.at),
      plainArray(rows.feedbackLabels),
      plainArray(rows.feedbackAt),
    ],
  );
}

/**
 * An array literal of values that need no quoting (UUIDs, label words, numbers; null is
 * NULL), made in one join: pg quotes and escapes each element of an array it is given.
 */
function plainArray(values: ReadonlyArray<string | number | null>): string {
  return `{${values.map((value) => (value === null ? 'NULL' : value)).join(',')}}`;
}

/** Writes closed windows of one replica; writing a window again replaces it. */
export async function writeWindows(
  db: Queryable,
  replicaId: string,
  rows: WindowRow[],
): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    `INSERT INTO metric_windows (model, version, window_start, replica_id, requests, errors,
        latency_buckets, predicted_spam, predicted_ham, feedback_correct, feedback_incorrect,
        shadow_agree, shadow_disagree)
     SELECT w.model, w.version, to_timestamp(w.start_ms / 1000.0), $1, w.requests, w.errors,
            w.latency_buckets, w.predicted_spam, w.predicted_ham, w.feedback_correct,
            w.feedback_incorrect, w.shadow_agree, w.shadow_disagree
       FROM jsonb_to_recordset($2::jsonb) AS w(model text, version int, start_ms bigint,
            requests int, errors int, latency_buckets jsonb, predicted_spam int, predicted_ham int,
            feedback_correct int, feedback_incorrect int, shadow_agree int, shadow_disagree int)
     ON CONFLICT (model, version, window_start, replica_id) DO UPDATE SET
       requests = EXCLUDED.requests, errors = EXCLUDED.errors,
       latency_buckets = EXCLUDED.latency_buckets, predicted_spam = EXCLUDED.predicted_spam,
       predicted_ham = EXCLUDED.predicted_ham, feedback_correct = EXCLUDED.feedback_correct,
       feedback_incorrect = EXCLUDED.feedback_incorrect, shadow_agree = EXCLUDED.shadow_agree,
       shadow_disagree = EXCLUDED.shadow_disagree`,
    [
      replicaId,
      JSON.stringify(
        rows.map((row) => ({
          model: row.model,
          version: row.version,
          start_ms: row.windowStartMs,
          requests: row.requests,
          errors: row.errors,
          latency_buckets: row.latencyBuckets,
          predicted_spam: row.predictedSpam,
          predicted_ham: row.predictedHam,
          feedback_correct: row.feedbackCorrect,
          feedback_incorrect: row.feedbackIncorrect,
          shadow_agree: row.shadowAgree,
          shadow_disagree: row.shadowDisagree,
        })),
      ),
    ],
  );
}

/** A version's traffic summed over every replica between two instants. */
export interface VersionStats {
  requests: number;
  errors: number;
  errorRate: number | null;
  latencyP95Seconds: number | null;
  latencyP99Seconds: number | null;
  feedback: number;
  onlineAccuracy: number | null;
  shadowCompared: number;
  shadowAgreement: number | null;
}

/**
 * Sums a version's windows in [fromMs, toMs) across replicas. Rates are null, never 0,
 * when there is nothing to divide by: a check must not pass on missing data.
 */
export async function versionStats(
  db: Queryable,
  model: string,
  version: number,
  fromMs: number,
  toMs: number,
): Promise<VersionStats> {
  const { rows } = await db.query<{
    requests: number;
    errors: number;
    feedback_correct: number;
    feedback_incorrect: number;
    shadow_agree: number;
    shadow_disagree: number;
    buckets: number[][] | null;
  }>(
    `SELECT coalesce(sum(requests), 0)::int AS requests, coalesce(sum(errors), 0)::int AS errors,
            coalesce(sum(feedback_correct), 0)::int AS feedback_correct,
            coalesce(sum(feedback_incorrect), 0)::int AS feedback_incorrect,
            coalesce(sum(shadow_agree), 0)::int AS shadow_agree,
            coalesce(sum(shadow_disagree), 0)::int AS shadow_disagree,
            jsonb_agg(latency_buckets) AS buckets
       FROM metric_windows
      WHERE model = $1 AND version = $2
        AND window_start >= to_timestamp($3 / 1000.0) AND window_start < to_timestamp($4 / 1000.0)`,
    [model, version, fromMs, toMs],
  );
  const row = rows[0]!;
  const histogram = new Array<number>(LATENCY_BUCKETS_SECONDS.length + 1).fill(0);
  for (const buckets of row.buckets ?? []) buckets.forEach((count, i) => (histogram[i]! += count));
  const feedback = row.feedback_correct + row.feedback_incorrect;
  const shadowCompared = row.shadow_agree + row.shadow_disagree;
  return {
    requests: row.requests,
    errors: row.errors,
    errorRate: row.requests > 0 ? row.errors / row.requests : null,
    latencyP95Seconds: histogramQuantile(histogram, 0.95),
    latencyP99Seconds: histogramQuantile(histogram, 0.99),
    feedback,
    onlineAccuracy: feedback > 0 ? row.feedback_correct / feedback : null,
    shadowCompared,
    shadowAgreement: shadowCompared > 0 ? row.shadow_agree / shadowCompared : null,
  };
}

/**
 * The upper bound of the bucket holding quantile `q`: a conservative estimate (never
 * below the true value). Infinity when it falls in the overflow bucket; null when empty.
 */
export function histogramQuantile(histogram: number[], q: number): number | null {
  const total = histogram.reduce((sum, count) => sum + count, 0);
  if (total === 0) return null;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let i = 0; i < histogram.length; i++) {
    seen += histogram[i]!;
    if (seen >= rank) return LATENCY_BUCKETS_SECONDS[i] ?? Infinity;
  }
  return Infinity;
}
