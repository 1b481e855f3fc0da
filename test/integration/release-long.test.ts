import type { Client, WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../lib/db/db.js';
import { findAliasedVersion } from '../../lib/registry/versions.js';
import type { ReleasePlanInput } from '../../lib/release/plan.js';
import { readRoute } from '../../lib/serving/route-store.js';
import type { Gateway } from '../../serving/gateway.js';
import {
  releaseStatusQuery,
  type ApprovalInput,
  type releaseWorkflow,
} from '../../workflows/release.js';
import { freshDatabase, startTestWorker, temporalClient, type TestWorker } from '../helpers/env.js';
import { recordHistory } from '../helpers/histories.js';
import {
  injectFault,
  modelWithCandidate,
  routeChangePurposes,
  sendTraffic,
  startQuickGateway,
} from '../helpers/release.js';

// Releases whose loops run long continue as new; these tests make "long" a few rounds by
// setting a small history limit, so every phase is handed over from one run to the next.
const HISTORY_LIMIT = 30;

const errorRate = {
  metric: 'error_rate',
  against: 'absolute',
  pass: 0.05,
  fail: 0.5,
  minSamples: 5,
} as const;

const operator: ApprovalInput = { approver: 'alice', channel: 'cli' };

describe('long releases continue as new', () => {
  let db: Db;
  let worker: TestWorker;
  let gateway: Gateway;
  let client: Client;
  const stoppers: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    db = await freshDatabase();
    worker = await startTestWorker({ db });
    gateway = await startQuickGateway(db, worker.store);
    client = await temporalClient();
  });
  afterAll(async () => {
    for (const stop of stoppers) await stop();
    await gateway?.stop();
    await worker?.stop();
    await db?.close();
  });

  const traffic = (model: string): void => {
    stoppers.push(sendTraffic(gateway, model));
  };

  const start = (
    model: string,
    version: number,
    plan: ReleasePlanInput,
    historyLimit = HISTORY_LIMIT,
  ): Promise<WorkflowHandle<typeof releaseWorkflow>> =>
    client.workflow.start<typeof releaseWorkflow>('releaseWorkflow', {
      workflowId: `release/${model}/v${version}`,
      taskQueue: worker.taskQueue,
      args: [{ model, version, plan, requestedBy: 'test', historyLimit }],
      memo: { planDigest: 'digest-of-the-plan' },
    });

  /** Every run of a workflow id, oldest first, with its status and history length. */
  const runsOf = async (
    workflowId: string,
  ): Promise<Array<{ runId: string; status: string; events: number }>> => {
    const runs: Array<{ runId: string; status: string; startMs: number }> = [];
    for await (const execution of client.workflow.list({ query: `WorkflowId = '${workflowId}'` }))
      runs.push({
        runId: execution.runId,
        status: execution.status.name,
        startMs: execution.startTime.getTime(),
      });
    runs.sort((a, b) => a.startMs - b.startMs);
    return Promise.all(
      runs.map(async ({ runId, status }) => {
        const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
        return { runId, status, events: history.events?.length ?? 0 };
      }),
    );
  };

  const auditActionsOf = async (model: string): Promise<string[]> => {
    const { rows } = await db.query<{ action: string }>(
      `SELECT action FROM audit_log WHERE model = $1 AND action LIKE 'release.%' ORDER BY id`,
      [model],
    );
    return rows.map((row) => row.action);
  };

  it('carries a canary, a 100% step and a post-promotion watch across runs and ends as one release', async () => {
    const { model, candidate } = await modelWithCandidate(db, worker.store, gateway);
    traffic(model);
    const handle = await start(model, candidate, {
      shadow: {
        percent: 20,
        duration: '2s',
        checkInterval: '500ms',
        checks: [{ metric: 'shadow_agreement', against: 'absolute', pass: 0, fail: 0 }],
      },
      steps: [
        { weight: 30, bake: '2s', checkInterval: '500ms' },
        { weight: 100, bake: '2s', checkInterval: '500ms' },
      ],
      checks: [errorRate],
      failureLimit: 2,
      inconclusiveLimit: 8,
      loadTimeout: '20s',
      postPromotion: { watch: '4s', checkInterval: '500ms', checks: [errorRate] },
    });
    const result = await handle.result();

    expect(result.outcome, result.reason).toBe('promoted');
    expect((await findAliasedVersion(db, model, 'production'))?.version).toBe(candidate);
    // Each route change once, each transition audited once, whatever run made it.
    expect(await routeChangePurposes(db, model)).toEqual([
      'load',
      'shadow',
      'step-1',
      'step-2',
      'promote',
    ]);
    expect(await auditActionsOf(model)).toEqual([
      'release.loading',
      'release.shadow',
      'release.canary',
      'release.canary',
      'release.promoted',
      'release.done',
    ]);
    expect(result.status.runs).toBeGreaterThanOrEqual(5);

    const runs = await runsOf(handle.workflowId);
    expect(runs.length).toBe(result.status.runs);
    expect(runs.slice(0, -1).map((run) => run.status)).toEqual(
      runs.slice(0, -1).map(() => 'CONTINUED_AS_NEW'),
    );
    expect(runs.at(-1)!.status).toBe('COMPLETED');
    // The first run (which hands over) and the last (which resumes) replay in CI.
    recordHistory(handle.workflowId, 'release-continued-as-new-first-run', runs[0]!.runId);
    recordHistory(handle.workflowId, 'release-continued-as-new-last-run', runs.at(-1)!.runId);
    // The release's events are spread over runs, none much past the limit: a run hands
    // over at the first loop point after it, and the first run also holds the setup.
    const events = runs.map((run) => run.events);
    expect(events.reduce((sum, count) => sum + count, 0)).toBeGreaterThan(4 * HISTORY_LIMIT);
    expect(Math.max(...events)).toBeLessThan(HISTORY_LIMIT + 70);

    // The Temporal UI's memo and search attributes still describe the release.
    const latest = await client.workflow.getHandle(handle.workflowId).describe();
    expect(latest.memo?.planDigest).toBe('digest-of-the-plan');
    expect(latest.searchAttributes?.MlopsModel).toEqual([model]);
    expect(latest.searchAttributes?.MlopsOutcome).toEqual(['promoted']);
  }, 120_000);

  it('reverts a promotion when the watch breaches in a later run', async () => {
    const { model, stable, candidate } = await modelWithCandidate(db, worker.store, gateway);
    traffic(model);
    const handle = await start(model, candidate, {
      steps: [{ weight: 50, bake: '1s', checkInterval: '500ms' }],
      checks: [errorRate],
      failureLimit: 2,
      inconclusiveLimit: 8,
      loadTimeout: '20s',
      postPromotion: { watch: '5m', checkInterval: '500ms', checks: [errorRate] },
    });
    // Wait until the watch has been handed over at least once, then break the candidate.
    await expect
      .poll(
        async () => {
          const { timeline } = await handle.query(releaseStatusQuery);
          return (
            timeline.at(-2)?.event === 'promoted' && timeline.at(-1)?.event === 'continued-as-new'
          );
        },
        { timeout: 60_000, interval: 200 },
      )
      .toBe(true);
    await injectFault(db, model, candidate, 1);
    const result = await handle.result();

    expect(result.outcome, result.reason).toBe('reverted');
    expect(result.reason).toMatch(/post-promotion: checks failed 2 times in a row: error_rate/);
    expect((await findAliasedVersion(db, model, 'production'))?.version).toBe(stable);
    expect((await readRoute(db, model))?.weights).toEqual({ [stable]: 10_000, [candidate]: 0 });
    expect(await routeChangePurposes(db, model)).toEqual(['load', 'step-1', 'promote', 'revert']);
  }, 120_000);

  it('acts on an abort sent to a release that has continued as new', async () => {
    const { model, stable, candidate } = await modelWithCandidate(db, worker.store, gateway);
    traffic(model);
    const handle = await start(model, candidate, {
      steps: [{ weight: 10, bake: '10m', checkInterval: '300ms' }],
      checks: [errorRate],
      failureLimit: 2,
      inconclusiveLimit: 8,
      loadTimeout: '20s',
    });
    await expect
      .poll(async () => (await handle.query(releaseStatusQuery)).runs, {
        timeout: 60_000,
        interval: 200,
      })
      .toBeGreaterThanOrEqual(3);
    // The handle names no run: the update reaches whichever run is current.
    await handle.executeUpdate('abort', { args: [{ ...operator, reason: 'drill' }] });
    const result = await handle.result();

    expect(result.outcome).toBe('aborted');
    expect(result.reason).toBe('aborted by alice (cli): drill');
    // Handovers in a row are one line of the timeline, however many runs they took.
    expect(result.status.runs).toBeGreaterThanOrEqual(3);
    expect(
      result.status.timeline.filter((event) => event.event === 'continued-as-new'),
    ).toHaveLength(1);
    expect((await readRoute(db, model))?.weights).toEqual({ [stable]: 10_000, [candidate]: 0 });
    expect(await routeChangePurposes(db, model)).toEqual(['load', 'step-1', 'rollback']);
  }, 120_000);

  it('keeps waiting for a route another release owns across runs, then releases', async () => {
    const { model, candidate } = await modelWithCandidate(db, worker.store, gateway);
    traffic(model);
    // The first release holds the route on a long bake; the second waits for it.
    const holder = await start(
      model,
      candidate,
      {
        steps: [{ weight: 10, bake: '10m', checkInterval: '1s' }],
        checks: [errorRate],
        failureLimit: 2,
        inconclusiveLimit: 1000,
        loadTimeout: '20s',
      },
      2_000,
    );
    await expect
      .poll(async () => (await holder.query(releaseStatusQuery)).stage, { timeout: 30_000 })
      .toBe('canary');
    const waiting = await client.workflow.start<typeof releaseWorkflow>('releaseWorkflow', {
      workflowId: `release/${model}/v${candidate}/again`,
      taskQueue: worker.taskQueue,
      // A limit this small hands over after every ten-second poll of the route.
      args: [
        {
          model,
          version: candidate,
          plan: {
            steps: [{ weight: 50, bake: '1s', checkInterval: '500ms' }],
            checks: [errorRate],
            failureLimit: 2,
            inconclusiveLimit: 8,
            loadTimeout: '20s',
          },
          requestedBy: 'test',
          historyLimit: 5,
        },
      ],
    });
    await expect
      .poll(async () => (await waiting.query(releaseStatusQuery)).runs, {
        timeout: 40_000,
        interval: 500,
      })
      .toBeGreaterThanOrEqual(2);
    expect((await waiting.query(releaseStatusQuery)).stage).toBe('waiting-for-route');

    await holder.executeUpdate('abort', { args: [operator] });
    expect((await holder.result()).outcome).toBe('aborted');
    const result = await waiting.result();

    expect(result.outcome, result.reason).toBe('promoted');
    // The wait was announced once, however many runs it took.
    expect(
      result.status.timeline.filter((event) => event.event === 'waiting-for-route'),
    ).toHaveLength(1);
  }, 120_000);
});
