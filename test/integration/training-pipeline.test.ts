import type { Client } from '@temporalio/client';
import { WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../lib/db/db.js';
import { getRun } from '../../lib/registry/runs.js';
import { getVersion, listVersions } from '../../lib/registry/versions.js';
import { trainingWorkflowId } from '../../lib/temporal/conventions.js';
import { startTraining } from '../../client/train.js';
import { TrainingSpecSchema, type TrainingSpecInput } from '../../lib/spec/training-spec.js';
import {
  freshDatabase,
  startTestWorker,
  temporalClient,
  uniqueName,
  type TestWorker,
} from '../helpers/env.js';
import { smallSpec } from '../helpers/specs.js';

describe('trainingPipelineWorkflow', () => {
  let db: Db;
  let worker: TestWorker;
  let client: Client;

  beforeAll(async () => {
    db = await freshDatabase();
    worker = await startTestWorker({ db });
    client = await temporalClient();
  });
  afterAll(async () => {
    await worker?.stop();
    await db?.close();
  });

  const train = async (raw: TrainingSpecInput, runId = uniqueName('run')) => {
    const spec = TrainingSpecSchema.parse(raw);
    const { handle } = await startTraining(client, {
      raw,
      spec,
      runId,
      requestedBy: 'test',
      taskQueue: worker.taskQueue,
    });
    return { handle, result: await handle.result(), runId };
  };

  it('registers a version with its artifact, snapshot, evaluation and full lineage', async () => {
    const model = uniqueName('spam');
    const { result, runId } = await train(smallSpec(model));

    expect(result.outcome).toBe('accepted');
    const record = await getVersion(db, model, result.version);
    expect(record.artifactDigest).toBe(result.artifactDigest);
    expect(await worker.store.has(record.artifactDigest)).toBe(true);
    expect(record.snapshotDigest).toBe(result.snapshot.digest);
    expect(record.approvedFor).toBe('staging');
    expect(record.lineage).toMatchObject({
      seed: 7,
      runId,
      workflowId: trainingWorkflowId(model, runId),
      trainer: 'builtin:logistic-regression',
      parentRunId: null,
    });
    expect(record.lineage.dependencyLockDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(record.lineage.parameters).toMatchObject({ hashBits: 16, epochs: 4 });
    expect(record.evaluation).toMatchObject({ rows: result.snapshot.evalRows });
    for (const key of [
      'accuracy',
      'precision',
      'recall',
      'f1',
      'rocAuc',
      'latencyMeanMs',
      'latencyP99Ms',
      'modelSizeBytes',
    ]) {
      expect(typeof (record.evaluation as Record<string, unknown>)[key]).toBe('number');
    }
    // Train rows are all older than evaluation rows.
    expect(result.snapshot.trainUntil! <= result.snapshot.evalFrom!).toBe(true);
    expect((await getRun(db, runId)).status).toBe('succeeded');

    // People find it in the Temporal UI by model, stage and outcome (visibility lags a little).
    const query = `MlopsModel = '${model}' AND MlopsVersion = '${result.version}' AND MlopsStage = 'done' AND MlopsOutcome = 'accepted'`;
    let found: string[] = [];
    for (let i = 0; i < 50 && found.length === 0; i++) {
      found = [];
      for await (const execution of client.workflow.list({ query }))
        found.push(execution.workflowId);
      if (found.length === 0) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(found).toEqual([trainingWorkflowId(model, runId)]);
  });

  it('keeps a version its gate rejects, marked rejected with the reasons', async () => {
    const model = uniqueName('spam');
    const { result, runId } = await train(
      smallSpec(model, { gate: { minimum: { accuracy: 0.9999, f1: 0.9999 } } }),
    );

    expect(result.outcome).toBe('rejected');
    expect(result.gate.reasons.join(' ')).toMatch(/accuracy .* is below the minimum 0.9999/);
    const record = await getVersion(db, model, result.version);
    expect(record.status).toBe('rejected');
    expect(record.approvedFor).toBe('none');
    expect((record.gate as { reasons: string[] }).reasons).toEqual(result.gate.reasons);
    expect((await getRun(db, runId)).status).toBe('rejected');
  });

  it('gates a new version against production evaluated on the same snapshot', async () => {
    const model = uniqueName('spam');
    const first = await train(smallSpec(model, { onPass: { aliases: ['production'] } }));
    const second = await train(
      smallSpec(model, { seed: 8, gate: { minimum: {}, maxRegression: { accuracy: 0 } } }),
    );

    expect(second.result.baseline?.version).toBe(first.result.version);
    expect(second.result.gate.comparisons[0]).toMatchObject({
      metric: 'accuracy',
      rule: 'maxRegression',
      baseline: second.result.baseline!.evaluation.accuracy,
    });
    const record = await getVersion(db, model, second.result.version);
    expect(record.rollbackVersion).toBe(first.result.version);
  });

  it('treats the same run id started twice as one run with one version', async () => {
    const model = uniqueName('spam');
    const raw = smallSpec(model);
    const spec = TrainingSpecSchema.parse(raw);
    const runId = uniqueName('ci');
    const [a, b] = await Promise.all([
      startTraining(client, { raw, spec, runId, requestedBy: 'ci', taskQueue: worker.taskQueue }),
      startTraining(client, { raw, spec, runId, requestedBy: 'ci', taskQueue: worker.taskQueue }),
    ]);
    await a.handle.result();
    const again = await startTraining(client, {
      raw,
      spec,
      runId,
      requestedBy: 'ci',
      taskQueue: worker.taskQueue,
    });

    expect(again.started).toBe(false);
    expect((await again.handle.result()).version).toBe((await b.handle.result()).version);
    expect(await listVersions(db, model)).toHaveLength(1);
  });

  it('refuses a run id already used for a different spec, instead of answering with the old run', async () => {
    const model = uniqueName('spam');
    const raw = smallSpec(model);
    const runId = uniqueName('ci');
    await startTraining(client, {
      raw,
      spec: TrainingSpecSchema.parse(raw),
      runId,
      requestedBy: 'ci',
      taskQueue: worker.taskQueue,
    });
    const changed = smallSpec(model, { seed: 99 });

    await expect(
      startTraining(client, {
        raw: changed,
        spec: TrainingSpecSchema.parse(changed),
        runId,
        requestedBy: 'ci',
        taskQueue: worker.taskQueue,
      }),
    ).rejects.toThrow(/--run-id: .* was already used for a different spec/);
  });

  it('trains anew and registers a new version when only one hyperparameter changes', async () => {
    const model = uniqueName('spam');
    const base = await train(smallSpec(model));
    const changed = await train(
      smallSpec(model, {
        trainer: { kind: 'builtin', params: { hashBits: 16, epochs: 4, learningRate: 0.3 } },
      }),
    );

    expect(changed.result.version).toBe(base.result.version + 1);
    expect(changed.result.artifactDigest).not.toBe(base.result.artifactDigest);
    expect((await getVersion(db, model, changed.result.version)).lineage.parameters).toMatchObject({
      learningRate: 0.3,
    });
  });

  it('fails at once, without retrying, when the spec is invalid inside the workflow', async () => {
    const workflowId = `train/${uniqueName('bad')}/x`;
    const handle = await client.workflow.start('trainingPipelineWorkflow', {
      workflowId,
      taskQueue: worker.taskQueue,
      args: [{ runId: 'x', spec: { model: 'Bad Name', seed: -1 }, requestedBy: 'test' }],
    });
    const failure = await handle.result().catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(WorkflowFailedError);
    const cause = (failure as WorkflowFailedError).cause as {
      type?: string;
      message: string;
      nonRetryable?: boolean;
    };
    expect(cause.type).toBe('InvalidSpec');
    expect(cause.message).toMatch(/model: must be lower-case words/);
    expect(cause.message).toMatch(/seed: /);
    const history = await handle.fetchHistory();
    const taskFailures =
      history.events?.filter((event) => event.workflowTaskFailedEventAttributes) ?? [];
    expect(taskFailures).toHaveLength(0);
  });
});
