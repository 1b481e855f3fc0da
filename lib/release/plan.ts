import { z } from 'zod';
import { ApproverEntrySchema } from '../access/scopes.js';

/** Durations as Temporal writes them: `500ms`, `10s`, `5m`, `1h`. */
export const DurationSchema = z
  .string()
  .regex(/^\d+(ms|s|m|h)$/, 'must be a duration like 500ms, 10s, 5m or 1h');

/** Milliseconds of a duration string that passed DurationSchema. */
export function durationMs(duration: string): number {
  const match = /^(\d+)(ms|s|m|h)$/.exec(duration);
  if (!match) throw new Error(`not a duration: ${duration}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
  return Number(match[1]) * unit;
}

/** Health metrics a check may name, and which way is better. */
export const METRICS = {
  error_rate: 'lower',
  latency_p95: 'lower',
  latency_p99: 'lower',
  online_accuracy: 'higher',
  shadow_agreement: 'higher',
} as const;
export type MetricName = keyof typeof METRICS;

const MetricSchema = z.enum(Object.keys(METRICS) as [MetricName, ...MetricName[]], {
  error: () => `must be one of ${Object.keys(METRICS).join(', ')}`,
});

/**
 * One health check. `pass` and `fail` are two bands: a value on the good side of `pass`
 * passes, one on the bad side of `fail` fails, and one between them is inconclusive.
 * Against `stable`, the value compared is the candidate's as a ratio of, or difference
 * from, the stable version's in the same window.
 */
export const CheckSchema = z
  .object({
    metric: MetricSchema,
    against: z.enum(['absolute', 'stable']),
    comparison: z.enum(['ratio', 'difference']).optional(),
    pass: z.number(),
    fail: z.number(),
    minSamples: z.number().int().min(1).default(30),
  })
  .strict()
  .superRefine((check, context) => {
    if (check.against === 'stable' && !check.comparison) {
      context.addIssue({
        code: 'custom',
        path: ['comparison'],
        message: 'is required (ratio or difference) when against is stable',
      });
    }
    if (check.against === 'absolute' && check.comparison) {
      context.addIssue({
        code: 'custom',
        path: ['comparison'],
        message: 'only applies when against is stable',
      });
    }
    const lowerIsBetter = METRICS[check.metric] === 'lower';
    if (lowerIsBetter ? check.pass > check.fail : check.pass < check.fail) {
      context.addIssue({
        code: 'custom',
        path: ['pass'],
        message: `must be ${lowerIsBetter ? '<=' : '>='} fail (${check.fail}) for ${check.metric}, where ${lowerIsBetter ? 'lower' : 'higher'} is better`,
      });
    }
  });
export type Check = z.infer<typeof CheckSchema>;

export const StepSchema = z
  .object({
    /** Percent of live traffic for the candidate during this step. */
    weight: z.number().gt(0).max(100),
    bake: DurationSchema,
    checkInterval: DurationSchema.default('10s'),
  })
  .strict();

export const ApprovalGateSchema = z
  .object({
    /** The step (1-based) the gate stands before, or `promotion`. */
    before: z.union([z.number().int().min(1), z.literal('promotion')]),
    /** People (`alice`) or groups (`group:ml-leads`); the model's own approver list bounds them. */
    approvers: z.array(ApproverEntrySchema).min(1, 'must name at least one approver'),
    timeout: DurationSchema.default('24h'),
    /** What a timeout does. A timeout never approves. */
    onTimeout: z.enum(['reject', 'wait']).default('reject'),
  })
  .strict();
export type ApprovalGate = z.infer<typeof ApprovalGateSchema>;

/** A release plan as people write it in YAML. Anything unknown is refused before traffic moves. */
export const ReleasePlanSchema = z
  .object({
    shadow: z
      .object({
        percent: z.number().gt(0).max(100),
        duration: DurationSchema,
        checkInterval: DurationSchema.default('10s'),
        checks: z.array(CheckSchema).default([]),
      })
      .strict()
      .optional(),
    steps: z.array(StepSchema).min(1, 'must have at least one step'),
    checks: z
      .array(CheckSchema)
      .min(1, 'must have at least one check: a canary without checks proves nothing'),
    /** Failing check rounds in a row that roll the release back. */
    failureLimit: z.number().int().min(1).default(2),
    /** Inconclusive check rounds in a row after which the release fails and rolls back. */
    inconclusiveLimit: z.number().int().min(1).default(6),
    approvals: z.array(ApprovalGateSchema).default([]),
    postPromotion: z
      .object({
        watch: DurationSchema,
        checkInterval: DurationSchema.default('10s'),
        checks: z.array(CheckSchema).min(1),
      })
      .strict()
      .optional(),
    /** A model's first release (no stable version) goes to full traffic after its approvals. */
    allowFirstRelease: z.boolean().default(true),
    /**
     * Requests with the same `x-mlops-route-key` header go to the same version within a route
     * generation (each step is one), so a user does not flip between versions mid-session.
     */
    sticky: z.boolean().default(false),
    /** How long to wait for every gateway replica to load and verify the candidate. */
    loadTimeout: DurationSchema.default('2m'),
  })
  .strict()
  .superRefine((plan, context) => {
    plan.approvals.forEach((gate, index) => {
      if (typeof gate.before === 'number' && gate.before > plan.steps.length) {
        context.addIssue({
          code: 'custom',
          path: ['approvals', index, 'before'],
          message: `must be a step between 1 and ${plan.steps.length}, or promotion (got ${gate.before})`,
        });
      }
    });
    if (plan.steps[0]!.weight === 100 && plan.checks.some((check) => check.against === 'stable')) {
      context.addIssue({
        code: 'custom',
        path: ['steps', 0, 'weight'],
        message:
          'must be below 100 when a check compares with stable: at 100% stable has no traffic to compare with',
      });
    }
    // A check that can never get a sample only ever says inconclusive: refuse it instead.
    // In the shadow window the candidate answers copies, not requests, so only agreement
    // with the primary is measured; after it, nothing is mirrored to compare.
    plan.shadow?.checks.forEach((check, index) => {
      if (check.metric !== 'shadow_agreement')
        context.addIssue({
          code: 'custom',
          path: ['shadow', 'checks', index, 'metric'],
          message: `must be shadow_agreement: in the shadow window the candidate answers mirrored copies, not requests, so ${check.metric} has no samples`,
        });
      else if (check.against !== 'absolute')
        context.addIssue({
          code: 'custom',
          path: ['shadow', 'checks', index, 'against'],
          message:
            'must be absolute: agreement is already a comparison with the stable version, which gets no copies of its own',
        });
    });
    const afterShadow = [
      ...plan.checks.map((check, index) => ({ check, path: ['checks', index, 'metric'] })),
      ...(plan.postPromotion?.checks ?? []).map((check, index) => ({
        check,
        path: ['postPromotion', 'checks', index, 'metric'],
      })),
    ];
    for (const { check, path } of afterShadow) {
      if (check.metric === 'shadow_agreement')
        context.addIssue({
          code: 'custom',
          path,
          message:
            'shadow_agreement is measured only in the shadow window: put it under shadow.checks',
        });
    }
    plan.steps.forEach((step, index) => {
      const previous = plan.steps[index - 1];
      if (previous && step.weight < previous.weight) {
        context.addIssue({
          code: 'custom',
          path: ['steps', index, 'weight'],
          message: `must not be below the previous step's ${previous.weight} (got ${step.weight})`,
        });
      }
    });
  });
export type ReleasePlan = z.infer<typeof ReleasePlanSchema>;
export type ReleasePlanInput = z.input<typeof ReleasePlanSchema>;
