import fs from 'node:fs';
import os from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/logger.js';
import { TOKENIZER_VERSION } from '../../lib/model/features.js';
import {
  classify,
  LogisticRegressionParamsSchema,
  MODEL_FORMAT,
  type LinearModel,
} from '../../lib/model/logistic-regression.js';
import { runtimeOf } from '../../serving/runtime-cache.js';
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
const runtime = runtimeOf('m', 1, 'sha256:good', linear);
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
      shadow.offer(runtime, { email: emails[index]! }, (label) => answers.push({ index, label })),
    );

    expect(offered).toEqual([true, true, true, false, false]);
    expect(shadow.dropped).toBe(2);
    await expect.poll(() => answers.length, { timeout: 15_000 }).toBe(3);
    expect(answers).toEqual(
      [0, 1, 2].map((index) => ({ index, label: classify(linear, emails[index]!).label })),
    );
    expect(shadow.depth).toBe(0);
  });

  it.runIf(fs.existsSync('/proc/thread-self'))(
    'runs copies on a thread of the lowest priority, leaving the event loop where it was',
    async () => {
      // Field 19 of /proc/<pid>/task/<tid>/stat; the name before it may hold spaces.
      const niceOf = (task: string) =>
        Number(
          fs.readFileSync(`/proc/self/task/${task}/stat`, 'utf8').split(') ')[1]!.split(' ')[16],
        );
      const lowest = () => fs.readdirSync('/proc/self/task').filter((t) => niceOf(t) === 19);
      const here = os.getPriority();
      const before = lowest();

      const shadow = pool(3);
      const answered: string[] = [];
      shadow.offer(runtime, { email: emails[0]! }, (label) => answered.push(label));
      await expect.poll(() => answered.length, { timeout: 15_000 }).toBe(1);

      expect(lowest().filter((task) => !before.includes(task))).toHaveLength(1);
      expect(os.getPriority()).toBe(here);
    },
  );

  it('scores the vector the primary already made as it scores the e-mail', async () => {
    const shadow = pool(10);
    const answers: Array<{ index: number; label: string }> = [];
    // A second model with the weights' signs flipped, given only vectors.
    const flipped = runtimeOf('m', 2, 'sha256:flipped', {
      ...linear,
      bias: -linear.bias,
      weights: linear.weights.map((weight) => -weight),
    });
    for (const [index, email] of emails.entries()) {
      const vector = flipped.featurize(email);
      expect(shadow.offer(flipped, { vector }, (label) => answers.push({ index, label }))).toBe(
        true,
      );
    }

    await expect.poll(() => answers.length, { timeout: 15_000 }).toBe(emails.length);
    expect(answers.sort((a, b) => a.index - b.index)).toEqual(
      emails.map((email, index) => ({ index, label: flipped.predict(email).label })),
    );
    // The flipped model disagrees with the first on some e-mail, so the answers are its own.
    expect(
      emails.some((email) => flipped.predict(email).label !== runtime.predict(email).label),
    ).toBe(true);
  });

  it('counts the copies a dead worker held as dropped, and starts another after a pause', async () => {
    const shadow = pool(10, 500);
    // A model the worker cannot apply: its handler throws and the thread dies.
    const broken = runtimeOf('m', 1, 'bad', {
      ...linear,
      weights: undefined as unknown as Float32Array,
    });
    expect(shadow.offer(broken, { email: emails[0]! }, () => undefined)).toBe(true);
    await expect.poll(() => shadow.dropped, { timeout: 15_000 }).toBe(1);

    // Within the pause no worker is started: the copy is dropped, not queued.
    expect(shadow.offer(runtime, { email: emails[0]! }, () => undefined)).toBe(false);
    expect(shadow.dropped).toBe(2);

    await new Promise((resolve) => setTimeout(resolve, 600));
    const labels: string[] = [];
    expect(shadow.offer(runtime, { email: emails[1]! }, (label) => labels.push(label))).toBe(true);
    await expect
      .poll(() => labels, { timeout: 15_000 })
      .toEqual([classify(linear, emails[1]!).label]);
  });
});
