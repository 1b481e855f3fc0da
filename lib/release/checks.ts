import type { VersionStats } from '../serving/metric-store.js';
import { METRICS, type Check } from './plan.js';

export type Verdict = 'pass' | 'fail' | 'inconclusive';

/** One check evaluated at one moment, with the numbers behind its verdict. */
export interface CheckResult {
  metric: Check['metric'];
  against: Check['against'];
  verdict: Verdict;
  /** The compared value: absolute, or the ratio/difference to stable. Null when unknown. */
  value: number | null;
  candidate: number | null;
  stable: number | null;
  samples: number;
  pass: number;
  fail: number;
  reason: string;
}

/** The statistics a round of checks reads, or why they could not be read. */
export type StatsOrError = { ok: true; stats: VersionStats } | { ok: false; error: string };

/**
 * Evaluates one check. Never passes on missing data: a metrics source that failed, too
 * few samples (of the candidate, or of stable when compared with it) or a rate with
 * nothing to divide by are all inconclusive.
 */
export function evaluateCheck(
  check: Check,
  candidate: StatsOrError,
  stable: StatsOrError | null,
): CheckResult {
  const base = { metric: check.metric, against: check.against, pass: check.pass, fail: check.fail };
  const inconclusive = (
    reason: string,
    samples = 0,
    candidateValue: number | null = null,
    stableValue: number | null = null,
  ): CheckResult => ({
    ...base,
    verdict: 'inconclusive',
    value: null,
    candidate: candidateValue,
    stable: stableValue,
    samples,
    reason: `${check.metric}: ${reason}`,
  });

  if (!candidate.ok) return inconclusive(`metrics source failed: ${candidate.error}`);
  const samples = samplesFor(check.metric, candidate.stats);
  const candidateValue = valueOf(check.metric, candidate.stats);
  if (samples < check.minSamples)
    return inconclusive(`${samples} of ${check.minSamples} samples`, samples, candidateValue);
  if (candidateValue === null) return inconclusive('no value yet', samples);

  let value = candidateValue;
  let stableValue: number | null = null;
  if (check.against === 'stable') {
    if (stable === null)
      return inconclusive('there is no stable version to compare with', samples, candidateValue);
    if (!stable.ok)
      return inconclusive(
        `metrics source failed for stable: ${stable.error}`,
        samples,
        candidateValue,
      );
    const stableSamples = samplesFor(check.metric, stable.stats);
    stableValue = valueOf(check.metric, stable.stats);
    if (stableSamples < check.minSamples || stableValue === null) {
      return inconclusive(
        `stable has ${stableSamples} of ${check.minSamples} samples`,
        samples,
        candidateValue,
        stableValue,
      );
    }
    value =
      check.comparison === 'ratio'
        ? ratio(candidateValue, stableValue)
        : candidateValue - stableValue;
  }

  const lowerIsBetter = METRICS[check.metric] === 'lower';
  const passes = lowerIsBetter ? value <= check.pass : value >= check.pass;
  const fails = lowerIsBetter ? value > check.fail : value < check.fail;
  const verdict: Verdict = passes ? 'pass' : fails ? 'fail' : 'inconclusive';
  const shown = `${check.metric}${check.against === 'stable' ? ` ${check.comparison} to stable` : ''} ${round(value)}`;
  const reason =
    verdict === 'pass'
      ? `${shown} within pass band ${check.pass}`
      : verdict === 'fail'
        ? `${shown} beyond fail band ${check.fail}`
        : `${shown} between pass ${check.pass} and fail ${check.fail}`;
  return {
    ...base,
    verdict,
    value,
    candidate: candidateValue,
    stable: stableValue,
    samples,
    reason,
  };
}

/** A round's verdict: fail if any check fails, else inconclusive if any is, else pass. */
export function roundVerdict(results: CheckResult[]): Verdict {
  if (results.some((result) => result.verdict === 'fail')) return 'fail';
  if (results.length === 0 || results.some((result) => result.verdict === 'inconclusive'))
    return 'inconclusive';
  return 'pass';
}

function samplesFor(metric: Check['metric'], stats: VersionStats): number {
  if (metric === 'online_accuracy') return stats.feedback;
  if (metric === 'shadow_agreement') return stats.shadowCompared;
  return stats.requests;
}

function valueOf(metric: Check['metric'], stats: VersionStats): number | null {
  switch (metric) {
    case 'error_rate':
      return stats.errorRate;
    case 'latency_p95':
      return stats.latencyP95Seconds;
    case 'latency_p99':
      return stats.latencyP99Seconds;
    case 'online_accuracy':
      return stats.onlineAccuracy;
    case 'shadow_agreement':
      return stats.shadowAgreement;
  }
}

function ratio(candidate: number, stable: number): number {
  if (stable === 0) return candidate === 0 ? 1 : Infinity;
  return candidate / stable;
}

function round(value: number): string {
  return Number.isFinite(value) ? String(Math.round(value * 10_000) / 10_000) : String(value);
}
