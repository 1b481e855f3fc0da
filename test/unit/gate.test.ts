import { describe, expect, it } from 'vitest';
import { decideGate } from '../../lib/gate.js';
import type { EvaluationReport } from '../../lib/model/evaluate.js';
import { GateSpecSchema } from '../../lib/spec/training-spec.js';

const report = (accuracy: number, f1: number): EvaluationReport => ({
  evaluatedBy: 'mlops',
  rows: 100,
  accuracy,
  precision: f1,
  recall: f1,
  f1,
  rocAuc: 0.99,
  confusion: null,
  latencyMeanMs: 0.1,
  latencyP99Ms: 0.5,
  modelSizeBytes: 1000,
});

describe('decideGate', () => {
  it('rejects a version below a minimum, with the metric and both values in the reason', () => {
    const gate = GateSpecSchema.parse({ minimum: { accuracy: 0.95 } });
    expect(decideGate(gate, report(0.9, 0.9), null)).toMatchObject({
      passed: false,
      reasons: ['accuracy 0.9000 is below the minimum 0.9500'],
    });
  });

  it('rejects a regression against the compared version beyond the allowance', () => {
    const gate = GateSpecSchema.parse({ maxRegression: { f1: 0.02 } });
    const decision = decideGate(gate, report(0.99, 0.85), {
      version: 3,
      report: report(0.99, 0.9),
    });
    expect(decision.passed).toBe(false);
    expect(decision.reasons).toEqual(['f1 0.8500 regresses more than 0.0200 from v3 (0.9000)']);
    expect(
      decideGate(gate, report(0.99, 0.89), { version: 3, report: report(0.99, 0.9) }).passed,
    ).toBe(true);
  });

  it('says so when regression rules could not be applied because the compared alias is unset', () => {
    const gate = GateSpecSchema.parse({
      maxRegression: { accuracy: 0.01 },
      compareTo: 'prodution',
    });
    const decision = decideGate(gate, report(0.99, 0.9), null);
    expect(decision.passed).toBe(true);
    expect(decision.notes).toEqual([
      'no version has alias prodution (or it cannot be scored on this snapshot), so 1 maxRegression rule(s) were not applied',
    ]);
  });
});
