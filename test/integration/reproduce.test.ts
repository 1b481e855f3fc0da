import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTraining } from '../../client/train.js';
import type { Db } from '../../lib/db/db.js';
import { InvalidInputError } from '../../lib/errors.js';
import { getVersion, registerVersion } from '../../lib/registry/versions.js';
import { TrainingSpecSchema } from '../../lib/spec/training-spec.js';
import type { ReproduceResult } from '../../workflows/reproduce.js';
import {
  freshDatabase,
  scratchDir,
  startTestWorker,
  temporalClient,
  uniqueName,
  type TestWorker,
} from '../helpers/env.js';
import { smallSpec } from '../helpers/specs.js';

describe('reproduceWorkflow', () => {
  let db: Db;
  let client: Client;
  let dataDir: string;
  const workers: TestWorker[] = [];

  beforeAll(async () => {
    db = await freshDatabase();
    client = await temporalClient();
    dataDir = scratchDir();
  });
  afterAll(async () => {
    for (const worker of workers) await worker.stop();
    await db?.close();
  });

  it('trains again from the lineage after the dependency lock changed and gets the same digest', async () => {
    const lockV1 = path.join(dataDir, 'lock-v1.json');
    fs.writeFileSync(lockV1, '{"packages":{"a":"1.0.0"}}');
    const before = await startTestWorker({ db, dataDir, lockFilePath: lockV1 });
    workers.push(before);
    const model = uniqueName('repro');
    const raw = smallSpec(model, { seed: 7 });
    const { handle } = await startTraining(client, {
      raw,
      spec: TrainingSpecSchema.parse(raw),
      runId: 'original',
      requestedBy: 'test',
      taskQueue: before.taskQueue,
    });
    const trained = await handle.result();
    await before.stop();
    workers.pop();

    // Later: the dependencies on disk have changed.
    const lockV2 = path.join(dataDir, 'lock-v2.json');
    fs.writeFileSync(lockV2, '{"packages":{"a":"2.0.0"}}');
    const after = await startTestWorker({ db, dataDir, lockFilePath: lockV2 });
    workers.push(after);
    const result = await client.workflow.execute<(input: unknown) => Promise<ReproduceResult>>(
      'reproduceWorkflow',
      {
        workflowId: `reproduce/${model}/v${trained.version}/again`,
        taskQueue: after.taskQueue,
        args: [{ runId: 'again', model, version: trained.version, requestedBy: 'test' }],
      },
    );

    const record = await getVersion(db, model, trained.version);
    expect(record.lineage.seed).toBe(7);
    expect(result.matches).toBe(true);
    expect(result.actualDigest).toBe(record.artifactDigest);
    expect(result.lockDigestMatches).toBe(false);
    expect(result.recordedLockDigest).toBe(record.lineage.dependencyLockDigest);
    expect(result.currentLockDigest).not.toBe(result.recordedLockDigest);
  });

  it('refuses to register a run whose seed or dependency lock digest is unknown', async () => {
    const lineage = {
      codeRevision: 'abc',
      trainer: 'builtin:logistic-regression',
      parameters: {},
      seed: 7,
      datasetDigest: `sha256:${'a'.repeat(64)}`,
      snapshotDigest: `sha256:${'b'.repeat(64)}`,
      dependencyLockDigest: `sha256:${'c'.repeat(64)}`,
      parentRunId: null,
      runId: 'r',
      workflowId: 'w',
    };
    const input = (overrides: Record<string, unknown>) => ({
      model: uniqueName('unknown'),
      owner: 'test',
      artifactUri: 'file:///x',
      artifactDigest: `sha256:${'d'.repeat(64)}`,
      snapshotDigest: lineage.snapshotDigest,
      featureSchema: {},
      evaluation: {},
      lineage: { ...lineage, ...overrides } as typeof lineage,
      idempotencyKey: uniqueName('key'),
    });
    const actor = { actor: 'test', channel: 'system' } as const;

    await expect(registerVersion(db, input({ seed: undefined }), actor)).rejects.toThrow(
      /lineage is invalid: seed: /,
    );
    await expect(
      registerVersion(db, input({ dependencyLockDigest: 'unknown' }), actor),
    ).rejects.toThrow(InvalidInputError);
    await expect(
      registerVersion(db, input({ dependencyLockDigest: 'unknown' }), actor),
    ).rejects.toThrow(/lineage is invalid: dependencyLockDigest: must be the sha256 digest/);
  });
});
