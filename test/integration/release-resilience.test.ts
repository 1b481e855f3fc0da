import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { FileArtifactStore } from '../../lib/artifacts/store.js';
import { openPostgres } from '../../lib/db/db.js';
import { migrate } from '../../lib/db/migrate.js';
import { startPostgres, type PostgresServer } from '../../lib/dev/postgres-server.js';
import { findAliasedVersion } from '../../lib/registry/versions.js';
import type { ReleasePlanInput } from '../../lib/release/plan.js';
import { readRoute } from '../../lib/serving/route-store.js';
import { Gateway } from '../../serving/gateway.js';
import type { releaseWorkflow, ReleaseStatus } from '../../workflows/release.js';
import {
  freshPostgresUrl,
  scratchDir,
  startTestWorker,
  temporalClient,
  uniqueName,
} from '../helpers/env.js';
import { corpusRows } from '../helpers/models.js';
import { modelWithCandidate, sendTraffic, startQuickGateway } from '../helpers/release.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

describe('a release under failure', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  });

  const traffic = (gateway: Gateway, model: string): (() => Promise<void>) => {
    const stop = sendTraffic(gateway, model);
    cleanups.push(stop);
    return stop;
  };

  it('holds the step with inconclusive checks while PostgreSQL is down for 10 s, keeps serving, then finishes', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-release-pg-'));
    let server: PostgresServer = await startPostgres({ dataDir });
    const port = server.port;
    cleanups.push(async () => {
      await server.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    });
    const db = openPostgres(await server.createDatabase('release'));
    cleanups.push(() => db.close());
    await migrate(db);
    const worker = await startTestWorker({ db });
    cleanups.push(() => worker.stop());
    const gateway = await startQuickGateway(db, worker.store);
    cleanups.push(() => gateway.stop());
    const { model, stable, candidate } = await modelWithCandidate(db, worker.store, gateway, {
      prefix: 'resilient',
    });
    const stopTraffic = traffic(gateway, model);
    const client = await temporalClient();
    const plan: ReleasePlanInput = {
      steps: [{ weight: 50, bake: '4s', checkInterval: '1s' }],
      checks: [
        { metric: 'error_rate', against: 'absolute', pass: 0.01, fail: 0.05, minSamples: 5 },
      ],
      inconclusiveLimit: 40,
      loadTimeout: '20s',
    };
    const handle = await client.workflow.start<typeof releaseWorkflow>('releaseWorkflow', {
      workflowId: `release/${model}/v${candidate}`,
      taskQueue: worker.taskQueue,
      args: [{ model, version: candidate, plan, requestedBy: 'test' }],
    });
    // Mid-canary means checking: the step's audit row is written and a round has run.
    await expect
      .poll(async () => (await handle.query<ReleaseStatus>('status')).recentChecks.length, {
        timeout: 30_000,
      })
      .toBeGreaterThan(0);

    await server.stop();
    const during: ReleaseStatus[] = [];
    let answered = 0;
    // At least 10 s, and on a loaded machine until a check round has met the outage.
    const outageStarted = Date.now();
    const readFailed = (status: ReleaseStatus): boolean =>
      status.recentChecks.some((round) =>
        round.results.some((r) => /metrics source failed/.test(r.reason)),
      );
    while (
      Date.now() - outageStarted < 10_000 ||
      (!during.some(readFailed) && Date.now() - outageStarted < 60_000)
    ) {
      during.push(await handle.query<ReleaseStatus>('status'));
      const row = (await corpusRows())[0]!;
      const response = await gateway.app.inject({
        method: 'POST',
        url: `/v1/models/${model}/predict`,
        payload: { input: { subject: row.subject, from: row.from, body: row.body } },
      });
      if (response.statusCode === 200) answered += 1;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    server = await startPostgres({ dataDir, port });
    // Rounds that were reading when the database went away finish a little later: keep looking.
    const after: ReleaseStatus[] = [];
    for (
      let i = 0;
      i < 60 && !(after.at(-1)?.outcome ?? 'running').match(/promoted|rolled-back/);
      i++
    ) {
      after.push(await handle.query<ReleaseStatus>('status'));
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const result = await handle.result();
    await stopTraffic();

    expect(answered).toBe(during.length);
    expect(during.every((status) => status.stage === 'canary' && status.step === 1)).toBe(true);
    const rounds = new Map(
      [...during, ...after]
        .flatMap((status) => status.recentChecks)
        .map((round) => [round.at, round]),
    );
    const outageRounds = [...rounds.values()].filter((round) =>
      round.results.some((r) => /metrics source failed/.test(r.reason)),
    );
    expect(outageRounds.length).toBeGreaterThan(0);
    expect(outageRounds.every((round) => round.verdict === 'inconclusive')).toBe(true);
    expect(result.outcome, result.reason).toBe('promoted');
    expect((await findAliasedVersion(db, model, 'production'))?.version).toBe(candidate);
    expect((await readRoute(db, model))?.weights).toEqual({ [stable]: 0, [candidate]: 10_000 });
  });

  // Each case kills the worker with SIGKILL as the release enters a stage, starts a new
  // one, and checks the release ends as it would have, every route change made once.
  const PROMOTED = ['load', 'shadow', 'step-1', 'step-2', 'promote'];
  const crashCases: Array<{
    stage: string;
    /** What happens after the restart: nothing, or a person acts. */
    then?: 'approve' | 'abort';
    outcome: 'promoted' | 'aborted';
    changes: string[];
  }> = [
    { stage: 'loading', outcome: 'promoted', changes: PROMOTED },
    { stage: 'shadow', outcome: 'promoted', changes: PROMOTED },
    { stage: 'canary', outcome: 'promoted', changes: PROMOTED },
    {
      stage: 'awaiting-approval',
      then: 'approve',
      outcome: 'promoted',
      changes: PROMOTED,
    },
    { stage: 'promoted', outcome: 'promoted', changes: PROMOTED },
    {
      stage: 'rolling back',
      then: 'abort',
      outcome: 'aborted',
      changes: ['load', 'shadow', 'step-1', 'rollback'],
    },
  ];

  it.each(crashCases)(
    'ends a release correctly when the worker is killed in stage $stage, with no route change made twice',
    async ({ stage, then, outcome, changes }) => {
      const url = await freshPostgresUrl();
      const db = openPostgres(url);
      cleanups.push(() => db.close());
      await migrate(db);
      const home = scratchDir();
      const store = new FileArtifactStore(path.join(home, 'artifacts'));
      const gateway = await startQuickGateway(db, store);
      cleanups.push(() => gateway.stop());
      const { model, stable, candidate } = await modelWithCandidate(db, store, gateway, {
        prefix: 'resilient',
      });
      const env = {
        ...process.env,
        DATABASE_URL: url,
        TEMPORAL_ADDRESS: inject('temporalAddress'),
        MLOPS_TASK_QUEUE: uniqueName('release-crash'),
        MLOPS_HOME: home,
        LOG_LEVEL: 'warn',
      };
      const spawnWorker = (): ChildProcess => {
        const child = spawn(process.execPath, [path.join(REPO, 'bin/mlops.mjs'), 'worker'], {
          cwd: REPO,
          env,
          stdio: ['ignore', 'ignore', 'inherit'],
        });
        cleanups.push(async () => child.kill('SIGKILL'));
        return child;
      };
      const stopTraffic = traffic(gateway, model);
      const client: Client = await temporalClient();
      const plan: ReleasePlanInput = {
        shadow: { percent: 20, duration: '2s' },
        steps: [
          { weight: 20, bake: '3s', checkInterval: '1s' },
          { weight: 60, bake: '3s', checkInterval: '1s' },
        ],
        checks: [
          { metric: 'error_rate', against: 'absolute', pass: 0.01, fail: 0.05, minSamples: 5 },
        ],
        inconclusiveLimit: 20,
        loadTimeout: '30s',
        approvals: then === 'approve' ? [{ before: 'promotion', approvers: ['alice'] }] : [],
        postPromotion: {
          watch: '3s',
          checkInterval: '1s',
          checks: [
            { metric: 'error_rate', against: 'absolute', pass: 0.01, fail: 0.05, minSamples: 5 },
          ],
        },
      };
      const alice = { approver: 'alice', channel: 'cli' as const };
      const first = spawnWorker();
      const handle = await client.workflow.start<typeof releaseWorkflow>('releaseWorkflow', {
        workflowId: `release/${model}/v${candidate}`,
        taskQueue: env.MLOPS_TASK_QUEUE,
        args: [{ model, version: candidate, plan, requestedBy: 'test' }],
      });
      const stageNow = async () =>
        (await handle.query<ReleaseStatus>('status').catch(() => null))?.stage;
      await expect
        .poll(stageNow, { timeout: 60_000, interval: 50 })
        .toBe(stage === 'rolling back' ? 'canary' : stage);
      // Abort, then kill while the rollback's route change is in flight.
      if (then === 'abort') await handle.executeUpdate('abort', { args: [alice] });

      first.kill('SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 1000));
      spawnWorker();
      if (then === 'approve') {
        await expect.poll(stageNow, { timeout: 60_000 }).toBe('awaiting-approval');
        await handle.executeUpdate('approve', { args: [alice] });
      }
      const result = await handle.result();
      await stopTraffic();

      expect(result.outcome, result.reason).toBe(outcome);
      const { rows } = await db.query<{ key: string; generation: number }>(
        'SELECT key, generation FROM route_changes WHERE model = $1 ORDER BY generation',
        [model],
      );
      expect(rows.map((row) => row.key.split('/').at(-1))).toEqual(changes);
      expect(rows.map((row) => Number(row.generation))).toEqual(changes.map((_, i) => i + 2));
      expect((await findAliasedVersion(db, model, 'production'))?.version).toBe(
        outcome === 'promoted' ? candidate : stable,
      );
      expect(await readRoute(db, model)).toMatchObject({
        generation: changes.length + 1,
        weights:
          outcome === 'promoted'
            ? { [stable]: 0, [candidate]: 10_000 }
            : { [stable]: 10_000, [candidate]: 0 },
      });
    },
    120_000,
  );
});
