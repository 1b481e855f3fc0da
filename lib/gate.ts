import type { EvaluationReport } from './model/evaluate.js';
import type { GateMetric, GateSpec } from './spec/training-spec.js';

/** The gate's verdict with one reason per rule that failed, and every comparison made. */
export interface GateDecision {
  passed: boolean;
  reasons: string[];
  /** What the gate could not check and why, e.g. regression rules with no version to compare. */
  notes: string[];
  comparisons: Array<{
    metric: GateMetric;
    rule: 'minimum' | 'maxRegression';
    candidate: number;
    limit: number;
    baseline?: number;
  }>;
}

/**
 * Applies a training spec's gate to the candidate's evaluation and, when there is one,
 * the compared version's evaluation on the same snapshot. Pure: safe in workflow code.
 */
export function decideGate(
  gate: GateSpec,
  candidate: EvaluationReport,
  baseline: { version: number; report: EvaluationReport } | null,
): GateDecision {
  const decision: GateDecision = { passed: true, reasons: [], notes: [], comparisons: [] };

  for (const [metric, minimum] of entries(gate.minimum)) {
    const value = candidate[metric];
    decision.comparisons.push({ metric, rule: 'minimum', candidate: value, limit: minimum });
    if (value < minimum) {
      decision.reasons.push(`${metric} ${fmt(value)} is below the minimum ${fmt(minimum)}`);
    }
  }

  const regressionRules = entries(gate.maxRegression).length;
  if (!baseline && regressionRules > 0) {
    decision.notes.push(
      `no version has alias ${gate.compareTo} (or it cannot be scored on this snapshot), so ${regressionRules} maxRegression rule(s) were not applied`,
    );
  }
  if (baseline) {
    for (const [metric, allowed] of entries(gate.maxRegression)) {
      const value = candidate[metric];
      const before = baseline.report[metric];
      const limit = before - allowed;
      decision.comparisons.push({
        metric,
        rule: 'maxRegression',
        candidate: value,
        limit,
        baseline: before,
      });
      if (value < limit - 1e-12) {
        decision.reasons.push(
          `${metric} ${fmt(value)} regresses more than ${fmt(allowed)} from v${baseline.version} (${fmt(before)})`,
        );
      }
    }
  }

  decision.passed = decision.reasons.length === 0;
  return decision;
}

function entries(record: Partial<Record<GateMetric, number>>): Array<[GateMetric, number]> {
  return Object.entries(record).filter(
    (entry): entry is [GateMetric, number] => entry[1] !== undefined,
  );
}

function fmt(value: number): string {
  return value.toFixed(4);
}
