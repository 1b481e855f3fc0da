import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/logger.js';
import { TOKENIZER_VERSION } from '../../lib/model/features.js';
import {
  classify,
  LogisticRegressionParamsSchema,
  MODEL_FORMAT,
  type LinearModel,
} from '../../lib/model/logistic-regression.js';
import type { Runtime } from '../../serving/runtime-cache.js';
import { ShadowPool } from '../../serving/shadow-pool.js';

const params = LogisticRegressionParamsSchema.parse({ hashBits: 12 });
// Weights with some spread, so different e-mails get different answers.
const linear: LinearModel = {
  format: MODEL_FORMAT,
  tokenizer: TOKENIZER_VERSION,
  params,
  seed: 1,
  trainedRows: 0,
  bias: -0.2,
  weights: Float32Array.from({ length: 2 ** params.hashBits }, (_, i) => ((i * 7919) % 13) / 6 - 1),
};
const runtimeOf = (model: LinearModel, digest: string): Runtime => ({
  model: 'm',
  version: 1,
  artifactDigest: digest,
  threshold: model.params.threshold,
  linear: model,
  predict: (features) => classify(model, features),
});
const runtime = runtimeOf(linear, 'sha256:good');
const emails = [
  { subject: 'WIN A PRIZE NOW', from: 'promo@example.com', body: 'click here, free money' },
  { subject: 'minutes of the meeting', from: 'alice@example.org', body: 'see the notes attached' },
  { subject: 're: patch', from: 'bob@example.org', body: 'the build is green again' },
];

describe('ShadowPool', () => {
  const pools: ShadowPool[] = [];
  const pool = (limit: number, retryAfterMs?: number): ShadowPool => {
    const created = new ShadowPool(createLogger('silent'), limit, retryAfterMs);
    pools.push(created);
    return created;
  };
  afterEach(async () => {
    for (const created of pools.splice(0)) await created.stop();
  });

  it('answers copies on a worker thread as the model does here, and drops what does not fit', async () => {
    const shadow = pool(3);
    const answers: Array<{ index: number; label: string }> = [];
    const offered = [0, 1, 2, 0, 1].map((index) =>
      shadow.offer(runtime, emails[index]!, (label) => answers.push({ index, label })),
    );

    expect(offered).toEqual([true, true, true, false, false]);
    expect(shadow.dropped).toBe(2);
    await expect.poll(() => answers.length, { timeout: 15_000 }).toBe(3);
    expect(answers).toEqual(
      [0, 1, 2].map((index) => ({ index, label: classify(linear, emails[index]!).label })),
    );
    expect(shadow.depth).toBe(0);
  });

  it('counts the copies a dead worker held as dropped, and starts another after a pause', async () => {
    const shadow = pool(10, 500);
    // A model the worker cannot apply: its handler throws and the thread dies.
    const broken = runtimeOf({ ...linear, weights: undefined as unknown as Float32Array }, 'bad');
    expect(shadow.offer(broken, emails[0]!, () => undefined)).toBe(true);
    await expect.poll(() => shadow.dropped, { timeout: 15_000 }).toBe(1);

    // Within the pause no worker is started: the copy is dropped, not queued.
    expect(shadow.offer(runtime, emails[0]!, () => undefined)).toBe(false);
    expect(shadow.dropped).toBe(2);

    await new Promise((resolve) => setTimeout(resolve, 600));
    const labels: string[] = [];
    expect(shadow.offer(runtime, emails[1]!, (label) => labels.push(label))).toBe(true);
    await expect
      .poll(() => labels, { timeout: 15_000 })
      .toEqual([classify(linear, emails[1]!).label]);
  });
});
