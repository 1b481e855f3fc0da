import type { TrainingSpecInput } from '../../lib/spec/training-spec.js';

/** A quick spec on an even sample of the real corpus; overrides replace top-level fields. */
export function smallSpec(
  model: string,
  overrides: Partial<TrainingSpecInput> = {},
): TrainingSpecInput {
  return {
    model,
    owner: 'test-suite',
    dataset: { source: 'spam-assassin', maxRows: 900 },
    split: { evalFraction: 0.25, trainFraction: 0.75 },
    trainer: { kind: 'builtin', params: { hashBits: 16, epochs: 4 } },
    seed: 7,
    gate: { minimum: { accuracy: 0.8 } },
    ...overrides,
  };
}
