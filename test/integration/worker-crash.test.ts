import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { TrainingHeartbeat } from '../../activities/training.js';
import { startTraining } from '../../client/train.js';
import { FileArtifactStore, sha256Digest } from '../../lib/artifacts/store.js';
import { decodeSnapshot } from '../../lib/corpus/snapshot.js';
import { openPostgres, type Db } from '../../lib/db/db.js';
import { encodeModel, trainLogisticRegression } from '../../lib/model/logistic-regression.js';
import { listVersions } from '../../lib/registry/versions.js';
import { TrainingSpecSchema } from '../../lib/spec/training-spec.js';
import { freshPostgresUrl, scratchDir, temporalClient, uniqueName } from '../helpers/env.js';
import { smallSpec } from '../helpers/specs.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** `mlops worker` as its own process, so the test can SIGKILL it like a crashed machine. */
function spawnWorker(env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [path.join(REPO, 'bin/mlops.mjs'), 'worker'], {
    cwd: REPO,
    env: { ...process.env, ...env, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** Polls the running training activity's heartbeat until it names a checkpoint. */
async function waitForCheckpoint(handle: WorkflowHandle): Promise<TrainingHeartbeat | null> {
  let heartbeat: TrainingHeartbeat | null = null;
  for (let i = 0; i < 600 && !heartbeat?.checkpointDigest; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const pending = (await handle.describe()).raw.pendingActivities?.[0];
    const payload = pending?.heartbeatDetails?.payloads?.[0];
    heartbeat = payload ? defaultPayloadConverter.fromPayload<TrainingHeartbeat>(payload) : null;
  }
  return heartbeat;
}

describe('training after a worker crash', () => {
  let client: Client;
  let db: Db;
  let env: Record<string, string>;
  const workers: ChildProcess[] = [];

  beforeAll(async () => {
    client = await temporalClient();
    const url = await freshPostgresUrl();
    db = openPostgres(url);
    env = {
      DATABASE_URL: url,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      MLOPS_TASK_QUEUE: uniqueName('crash-queue'),
      MLOPS_HOME: scratchDir(),
      MLOPS_CODE_REVISION: 'test',
    };
  });
  afterAll(async () => {
    for (const worker of workers) worker.kill('SIGKILL');
    await db?.close();
  });

  it('resumes from its checkpoint after SIGKILL and registers one version with the uninterrupted digest', async () => {
    const model = uniqueName('crash');
    const raw = smallSpec(model, {
      dataset: { source: 'spam-assassin', maxRows: 2000 },
      trainer: { kind: 'builtin', params: { hashBits: 16, epochs: 3000 } },
    });
    const spec = TrainingSpecSchema.parse(raw);
    workers.push(spawnWorker(env));
    const { handle } = await startTraining(client, {
      raw,
      spec,
      runId: 'crash-1',
      requestedBy: 'test',
      taskQueue: env.MLOPS_TASK_QUEUE!,
    });

    // Wait until training has saved a checkpoint, then kill the worker without warning.
    const heartbeat = await waitForCheckpoint(handle);
    expect(heartbeat?.checkpointDigest).toMatch(/^sha256:/);
    expect(heartbeat!.fraction).toBeLessThan(1);
    workers[0]!.kill('SIGKILL');

    workers.push(spawnWorker(env));
    const result = await handle.result();

    // The same trainer run directly on the same snapshot, never interrupted.
    const store = new FileArtifactStore(path.join(env.MLOPS_HOME!, 'artifacts'));
    const { train } = decodeSnapshot(await store.get(result.snapshot.digest));
    const params = spec.trainer.kind === 'builtin' ? spec.trainer.params : null;
    const direct = await trainLogisticRegression(
      train.map((row) => ({ features: row, spam: row.label === 'spam' })),
      params!,
      spec.seed,
    );
    expect(result.artifactDigest).toBe(sha256Digest(encodeModel(direct)));

    const history = await handle.fetchHistory();
    const attempts = history
      .events!.filter((event) => event.activityTaskStartedEventAttributes)
      .map((event) => event.activityTaskStartedEventAttributes!.attempt ?? 0);
    expect(Math.max(...attempts)).toBeGreaterThanOrEqual(2);
    const trained = history
      .events!.map((event) => event.activityTaskCompletedEventAttributes?.result?.payloads?.[0])
      .filter((payload) => payload !== undefined)
      .map((payload) => defaultPayloadConverter.fromPayload<Record<string, unknown>>(payload!))
      .find((value) => value !== null && typeof value === 'object' && 'resumedFromEpoch' in value);
    expect(trained?.resumedFromEpoch).toBeGreaterThan(0);
    expect(await listVersions(db, model)).toHaveLength(1);
  });

  it('stops within its grace time on SIGTERM, and another worker finishes the run from the checkpoint', async () => {
    const model = uniqueName('drain');
    const raw = smallSpec(model, {
      dataset: { source: 'spam-assassin', maxRows: 2000 },
      trainer: { kind: 'builtin', params: { hashBits: 16, epochs: 3000 } },
    });
    const spec = TrainingSpecSchema.parse(raw);
    const graceEnv = { ...env, MLOPS_SHUTDOWN_GRACE: '2s' };
    const first = spawnWorker(graceEnv);
    workers.push(first);
    const { handle } = await startTraining(client, {
      raw,
      spec,
      runId: 'drain-1',
      requestedBy: 'test',
      taskQueue: env.MLOPS_TASK_QUEUE!,
    });
    expect((await waitForCheckpoint(handle))?.checkpointDigest).toMatch(/^sha256:/);

    const stopped = Date.now();
    first.kill('SIGTERM');
    const exitCode = await new Promise<number | null>((resolve) => first.once('exit', resolve));
    expect(exitCode).toBe(0);
    expect(Date.now() - stopped).toBeLessThan(15_000);

    workers.push(spawnWorker(env));
    const result = await handle.result();
    expect(result.outcome).toBe('accepted');
    expect(await listVersions(db, model)).toHaveLength(1);
  });
});
