import { describe, expect, it } from 'vitest';
import { evaluateCheck, roundVerdict, type StatsOrError } from '../../lib/release/checks.js';
import { CheckSchema, ReleasePlanSchema, type Check } from '../../lib/release/plan.js';
import type { VersionStats } from '../../lib/serving/metric-store.js';
import { formatZodError } from '../../lib/errors.js';

const stats = (overrides: Partial<VersionStats>): StatsOrError => ({
  ok: true,
  stats: {
    requests: 100,
    errors: 0,
    errorRate: 0,
    latencyP95Seconds: 0.001,
    latencyP99Seconds: 0.002,
    feedback: 50,
    onlineAccuracy: 0.95,
    shadowCompared: 0,
    shadowAgreement: null,
    ...overrides,
  },
});
const check = (input: Partial<Check> & Pick<Check, 'metric'>): Check =>
  CheckSchema.parse({ against: 'absolute', pass: 0.01, fail: 0.05, minSamples: 30, ...input });

describe('evaluateCheck', () => {
  it('passes, fails or is inconclusive by the pass and fail bands', () => {
    const errorRate = check({ metric: 'error_rate' });
    expect(evaluateCheck(errorRate, stats({ errorRate: 0.005 }), null).verdict).toBe('pass');
    expect(evaluateCheck(errorRate, stats({ errorRate: 0.2 }), null).verdict).toBe('fail');
    expect(evaluateCheck(errorRate, stats({ errorRate: 0.03 }), null)).toMatchObject({
      verdict: 'inconclusive',
      reason: 'error_rate 0.03 between pass 0.01 and fail 0.05',
    });
  });

  it('is inconclusive, never passing, when the metrics source failed', () => {
    const result = evaluateCheck(
      check({ metric: 'error_rate' }),
      { ok: false, error: 'connect ECONNREFUSED' },
      null,
    );
    expect(result).toMatchObject({
      verdict: 'inconclusive',
      reason: 'error_rate: metrics source failed: connect ECONNREFUSED',
    });
  });

  it('is inconclusive below the minimum sample count, even with a perfect value', () => {
    const result = evaluateCheck(
      check({ metric: 'error_rate' }),
      stats({ requests: 3, errorRate: 0 }),
      null,
    );
    expect(result).toMatchObject({
      verdict: 'inconclusive',
      samples: 3,
      reason: 'error_rate: 3 of 30 samples',
    });
  });

  it('counts feedback, not requests, as the samples of online accuracy', () => {
    const accuracy = check({ metric: 'online_accuracy', pass: 0.9, fail: 0.8 });
    expect(
      evaluateCheck(accuracy, stats({ requests: 1000, feedback: 5, onlineAccuracy: 1 }), null)
        .verdict,
    ).toBe('inconclusive');
    expect(
      evaluateCheck(accuracy, stats({ feedback: 40, onlineAccuracy: 0.7 }), null).verdict,
    ).toBe('fail');
  });

  it('compares with the stable version as a ratio or a difference, and needs stable samples too', () => {
    const latency = check({
      metric: 'latency_p99',
      against: 'stable',
      comparison: 'ratio',
      pass: 1.5,
      fail: 3,
    });
    expect(
      evaluateCheck(
        latency,
        stats({ latencyP99Seconds: 0.01 }),
        stats({ latencyP99Seconds: 0.005 }),
      ),
    ).toMatchObject({ verdict: 'inconclusive', value: 2 });
    expect(
      evaluateCheck(
        latency,
        stats({ latencyP99Seconds: 0.05 }),
        stats({ latencyP99Seconds: 0.005 }),
      ).verdict,
    ).toBe('fail');
    expect(evaluateCheck(latency, stats({}), stats({ requests: 2 })).reason).toBe(
      'latency_p99: stable has 2 of 30 samples',
    );
    expect(evaluateCheck(latency, stats({}), null).reason).toBe(
      'latency_p99: there is no stable version to compare with',
    );

    const accuracy = check({
      metric: 'online_accuracy',
      against: 'stable',
      comparison: 'difference',
      pass: -0.02,
      fail: -0.1,
    });
    expect(
      evaluateCheck(accuracy, stats({ onlineAccuracy: 0.94 }), stats({ onlineAccuracy: 0.95 }))
        .verdict,
    ).toBe('pass');
  });

  it('makes a round fail on any failure, and inconclusive on any inconclusive check', () => {
    const pass = evaluateCheck(check({ metric: 'error_rate' }), stats({}), null);
    const open = evaluateCheck(check({ metric: 'error_rate' }), stats({ requests: 1 }), null);
    const fail = evaluateCheck(check({ metric: 'error_rate' }), stats({ errorRate: 1 }), null);
    expect(roundVerdict([pass, pass])).toBe('pass');
    expect(roundVerdict([pass, open])).toBe('inconclusive');
    expect(roundVerdict([open, fail])).toBe('fail');
    expect(roundVerdict([])).toBe('inconclusive');
  });
});

describe('ReleasePlanSchema', () => {
  const errors = (plan: unknown): string => {
    const parsed = ReleasePlanSchema.safeParse(plan);
    return parsed.success ? '' : formatZodError(parsed.error, plan);
  };
  const base = {
    steps: [{ weight: 10, bake: '1m' }],
    checks: [{ metric: 'error_rate', against: 'absolute', pass: 0.01, fail: 0.05 }],
  };

  it('refuses unknown metrics, fields and comparisons, naming the field', () => {
    expect(
      errors({ ...base, checks: [{ metric: 'p99', against: 'absolute', pass: 1, fail: 2 }] }),
    ).toMatch(/checks\.0\.metric: must be one of error_rate, latency_p95/);
    expect(errors({ ...base, canaryz: true })).toMatch(/canaryz: unknown field/);
    expect(
      errors({ ...base, checks: [{ metric: 'error_rate', against: 'stable', pass: 1, fail: 2 }] }),
    ).toMatch(/checks\.0\.comparison: is required/);
    expect(errors({ ...base, steps: [{ weight: 10, bake: 'soon' }] })).toMatch(
      /steps\.0\.bake: must be a duration/,
    );
  });

  it('refuses bands the wrong way round for the metric', () => {
    expect(
      errors({
        ...base,
        checks: [{ metric: 'error_rate', against: 'absolute', pass: 0.1, fail: 0.05 }],
      }),
    ).toMatch(
      /checks\.0\.pass: must be <= fail \(0\.05\) for error_rate, where lower is better \(got 0\.1\)$/,
    );
    expect(
      errors({
        ...base,
        checks: [{ metric: 'online_accuracy', against: 'absolute', pass: 0.8, fail: 0.9 }],
      }),
    ).toMatch(/must be >= fail \(0\.9\) for online_accuracy, where higher is better \(got 0\.8\)$/);
  });

  it('refuses a first step at 100% when a check compares with stable, and approvals past the last step', () => {
    const stableCheck = [
      { metric: 'latency_p99', against: 'stable', comparison: 'ratio', pass: 1.5, fail: 3 },
    ];
    expect(errors({ steps: [{ weight: 100, bake: '1m' }], checks: stableCheck })).toMatch(
      /steps\.0\.weight: must be below 100/,
    );
    expect(errors({ ...base, approvals: [{ before: 3, approvers: ['alice'] }] })).toMatch(
      /approvals\.0\.before: must be a step between 1 and 1/,
    );
  });

  it('refuses checks that could never get a sample in their phase, naming the field', () => {
    const agreement = { metric: 'shadow_agreement', against: 'absolute', pass: 0.9, fail: 0.7 };
    // The shadow window measures agreement only: the candidate answers copies, not requests.
    expect(
      errors({
        ...base,
        shadow: { percent: 20, duration: '1m', checks: [agreement, base.checks[0]] },
      }),
    ).toMatch(
      /shadow\.checks\.1\.metric: must be shadow_agreement: .*has no samples \(got "error_rate"\)$/,
    );
    // After the shadow window nothing is mirrored, so agreement has no samples.
    expect(errors({ ...base, checks: [base.checks[0], agreement] })).toMatch(
      /checks\.1\.metric: shadow_agreement is measured only in the shadow window/,
    );
    expect(errors({ ...base, postPromotion: { watch: '1h', checks: [agreement] } })).toMatch(
      /postPromotion\.checks\.0\.metric: shadow_agreement is measured only/,
    );
    expect(
      errors({
        ...base,
        shadow: {
          percent: 20,
          duration: '1m',
          checks: [{ ...agreement, against: 'stable', comparison: 'ratio' }],
        },
      }),
    ).toMatch(/shadow\.checks\.0\.against: must be absolute/);
    expect(errors({ ...base, shadow: { percent: 20, duration: '1m', checks: [agreement] } })).toBe(
      '',
    );
  });
});
