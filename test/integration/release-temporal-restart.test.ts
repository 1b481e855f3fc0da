import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { afterAll, describe, expect, it } from 'vitest';
import { FileArtifactStore } from '../../lib/artifacts/store.js';
import {
  freePort,
  startTemporalDevServer,
  type TemporalDevServer,
} from '../../lib/dev/temporal-server.js';
import { createLogger } from '../../lib/logger.js';
import { findAliasedVersion } from '../../lib/registry/versions.js';
import { createTrainingWorker } from '../../workers/training-worker.js';
import type { releaseWorkflow, ReleaseStatus } from '../../workflows/release.js';
import { freshDatabase, scratchDir, uniqueName, workflowBundle } from '../helpers/env.js';
import { modelWithCandidate, sendTraffic, startQuickGateway } from '../helpers/release.js';

describe('a release while the Temporal server restarts', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  });

  it('carries on from its history when the dev server restarts mid-canary on the same database file', async () => {
    const dir = scratchDir();
    const dbFile = path.join(dir, 'temporal.db');
    const port = await freePort();
    let server: TemporalDevServer = await startTemporalDevServer({ dbFile, port, uiPort: 0 });
    cleanups.push(() => server.stop());
    const db = await freshDatabase();
    cleanups.push(() => db.close());
    const store = new FileArtifactStore(path.join(dir, 'artifacts'));
    const gateway = await startQuickGateway(db, store);
    cleanups.push(() => gateway.stop());

    const { model, candidate } = await modelWithCandidate(db, store, gateway, {
      prefix: 'restart',
    });

    const taskQueue = uniqueName('restart-queue');
    const nativeConnection = await NativeConnection.connect({ address: server.address });
    const worker = await createTrainingWorker({
      connection: nativeConnection,
      namespace: 'default',
      taskQueue,
      db,
      store,
      logger: createLogger('silent'),
      dataDir: dir,
      workflowBundle: await workflowBundle(),
      codeRevision: 'test',
      shutdownGraceTime: '1s',
    });
    const running = worker.run();
    cleanups.push(async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running.catch(() => undefined);
      await nativeConnection.close();
    });

    cleanups.push(sendTraffic(gateway, model));

    const client = new Client({
      connection: await Connection.connect({ address: server.address }),
    });
    const plan = {
      steps: [{ weight: 30, bake: '6s', checkInterval: '1s' }],
      checks: [
        { metric: 'error_rate', against: 'absolute', pass: 0.01, fail: 0.05, minSamples: 5 },
      ],
      inconclusiveLimit: 30,
      loadTimeout: '20s',
    };
    const workflowId = `release/${model}/v${candidate}`;
    const handle = await client.workflow.start<typeof releaseWorkflow>('releaseWorkflow', {
      workflowId,
      taskQueue,
      args: [{ model, version: candidate, plan, requestedBy: 'test' }],
    });
    await expect
      .poll(async () => (await handle.query<ReleaseStatus>('status')).stage, { timeout: 20_000 })
      .toBe('canary');

    await server.stop();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    server = await startTemporalDevServer({ dbFile, port, uiPort: 0 });

    const after = new Client({ connection: await Connection.connect({ address: server.address }) });
    const result = await after.workflow.getHandle<typeof releaseWorkflow>(workflowId).result();
    expect(result.outcome, result.reason).toBe('promoted');
    expect(result.status.timeline.filter((event) => event.event === 'canary')).toHaveLength(1);
    expect((await findAliasedVersion(db, model, 'production'))?.version).toBe(candidate);
  });
});
