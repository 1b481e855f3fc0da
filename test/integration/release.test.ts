import { WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../lib/db/db.js';
import { findAliasedVersion } from '../../lib/registry/versions.js';
import type { ReleasePlanInput } from '../../lib/release/plan.js';
import { versionStats } from '../../lib/serving/metric-store.js';
import { listReleases } from '../../lib/release/release-store.js';
import { readRoute } from '../../lib/serving/route-store.js';
import { Gateway } from '../../serving/gateway.js';
import type { releaseWorkflow, ReleaseResult } from '../../workflows/release.js';
import {
  freshDatabase,
  startTestWorker,
  temporalClient,
  uniqueName,
  type TestWorker,
} from '../helpers/env.js';
import { recordHistory } from '../helpers/histories.js';
import { registerTrainedVersion } from '../helpers/models.js';
import {
  injectFault,
  modelWithCandidate,
  routeChangePurposes,
  sendTraffic,
  startQuickGateway,
} from '../helpers/release.js';

const quickPlan = (overrides: Partial<ReleasePlanInput> = {}): ReleasePlanInput => ({
  steps: [{ weight: 50, bake: '2s', checkInterval: '1s' }],
  checks: [{ metric: 'error_rate', against: 'absolute', pass: 0.01, fail: 0.05, minSamples: 5 }],
  failureLimit: 2,
  inconclusiveLimit: 4,
  loadTimeout: '20s',
  ...overrides,
});

describe('releaseWorkflow', () => {
  let db: Db;
  let worker: TestWorker;
  let gateway: Gateway;
  let client: Client;

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

  const stoppers: Array<() => Promise<void>> = [];
  const withCandidate = (options: { corruptCandidate?: boolean } = {}) =>
    modelWithCandidate(db, worker.store, gateway, options);
  const traffic = (model: string): (() => Promise<void>) => {
    const stop = sendTraffic(gateway, model);
    stoppers.push(stop);
    return stop;
  };

  /** Waits until the release's status Query reports `stage`. */
  const untilStage = async (
    handle: WorkflowHandle<typeof releaseWorkflow>,
    stage: string,
  ): Promise<void> => {
    await expect
      .poll(async () => (await handle.query<{ stage: string }>('status')).stage, {
        timeout: 30_000,
      })
      .toBe(stage);
  };

  const start = (
    model: string,
    version: number,
    plan: unknown,
    id = `release/${model}/v${version}`,
  ): Promise<WorkflowHandle<typeof releaseWorkflow>> =>
    client.workflow.start<typeof releaseWorkflow>('releaseWorkflow', {
      workflowId: id,
      taskQueue: worker.taskQueue,
      args: [{ model, version, plan, requestedBy: 'test' }],
    });

  it('moves traffic step by step with passing checks and promotes the candidate', async () => {
    const { model, stable, candidate } = await withCandidate();
    const stop = traffic(model);
    const handle = await start(
      model,
      candidate,
      quickPlan({
        steps: [
          { weight: 20, bake: '2s', checkInterval: '1s' },
          { weight: 50, bake: '2s', checkInterval: '1s' },
        ],
        sticky: true,
      }),
    );
    const result = await handle.result();
    await stop();

    expect(result.outcome, result.reason).toBe('promoted');
    expect((await findAliasedVersion(db, model, 'production'))?.version).toBe(candidate);
    expect(await readRoute(db, model)).toMatchObject({
      weights: { [stable]: 0, [candidate]: 10_000 },
      sticky: true,
    });
    expect(result.status.timeline.map((event) => event.event)).toEqual(
      expect.arrayContaining(['loading', 'canary', 'promoted', 'done']),
    );
    expect(result.status.recentChecks.at(-1)?.verdict).toBe('pass');
    expect(
      (await versionStats(db, model, candidate, 0, Date.now() + 1000)).requests,
    ).toBeGreaterThan(0);
  });

  it('takes a first release to full traffic, and withdraws a failing one so the model serves nothing', async () => {
    const release = async (faulty: boolean) => {
      const model = uniqueName('first');
      const { version } = await registerTrainedVersion(db, worker.store, model, { seed: 1 });
      if (faulty) await injectFault(db, model, version, 1);
      const stop = traffic(model);
      const result = await (await start(model, version, quickPlan())).result();
      await stop();
      return { model, version, result };
    };

    const good = await release(false);
    expect(good.result.outcome, good.result.reason).toBe('promoted');
    expect((await readRoute(db, good.model))?.weights).toEqual({ [good.version]: 10_000 });
    expect((await findAliasedVersion(db, good.model, 'production'))?.version).toBe(good.version);

    const bad = await release(true);
    expect(bad.result.outcome).toBe('rolled-back');
    expect(bad.result.reason).toMatch(/first release: checks failed 2 times in a row: error_rate/);
    // Before its first release the model served nothing; rolling back restores exactly that.
    recordHistory(`release/${bad.model}/v${bad.version}`, 'release-first-withdrawn');
    const withdrawn = await readRoute(db, bad.model);
    expect(withdrawn?.weights).toEqual({ [bad.version]: 0 });
    expect(await findAliasedVersion(db, bad.model, 'production')).toBeNull();
    expect(
      bad.result.status.timeline.find((event) => event.event === 'rolled-back')?.details,
    ).toMatch(
      new RegExp(`v${bad.version} withdrawn, ${bad.model} serves nothing until a release succeeds`),
    );
    await expect.poll(() => gateway.servedGeneration(bad.model)).toBe(withdrawn!.generation);
    const answer = await gateway.app.inject({
      method: 'POST',
      url: `/v1/models/${bad.model}/predict`,
      payload: { input: { subject: 'hi', from: 'a@example.com', body: 'hello' } },
    });
    expect(answer.statusCode).toBe(503);
    expect(answer.json().error.message).toMatch(
      `is withdrawn: route generation ${withdrawn!.generation} gives no version traffic`,
    );

    // Fixed, the same version is released again under the same workflow id: this release
    // makes its own route changes and audit rows, and the model serves again.
    await db.query('DELETE FROM fault_injections WHERE model = $1', [bad.model]);
    const stop = traffic(bad.model);
    const again = await (await start(bad.model, bad.version, quickPlan())).result();
    await stop();
    expect(again.outcome, again.reason).toBe('promoted');
    expect(await readRoute(db, bad.model)).toMatchObject({
      generation: withdrawn!.generation + 1,
      weights: { [bad.version]: 10_000 },
    });
    expect(await routeChangePurposes(db, bad.model)).toEqual([
      'first-release',
      'withdraw',
      'first-release',
    ]);
    const { rows: done } = await db.query<{ action: string }>(
      `SELECT action FROM audit_log WHERE model = $1 AND action = 'release.done'`,
      [bad.model],
    );
    expect(done).toHaveLength(2);
    const { rows: listed } = await db.query<{ outcome: string }>(
      'SELECT outcome FROM releases WHERE model = $1 ORDER BY started_at',
      [bad.model],
    );
    expect(listed.map((row) => row.outcome)).toEqual(['rolled-back', 'promoted']);
  });

  it('rolls back to 100% stable when injected errors make the checks fail', async () => {
    const { model, stable, candidate } = await withCandidate();
    await injectFault(db, model, candidate, 1);
    const stop = traffic(model);
    const result = await (
      await start(
        model,
        candidate,
        quickPlan({ steps: [{ weight: 50, bake: '30s', checkInterval: '1s' }] }),
      )
    ).result();
    await stop();

    expect(result.outcome).toBe('rolled-back');
    expect(result.reason).toMatch(/error_rate 1 beyond fail band 0.05/);
    expect((await readRoute(db, model))?.weights).toEqual({ [stable]: 10_000, [candidate]: 0 });
    expect((await findAliasedVersion(db, model, 'production'))?.version).toBe(stable);
  });

  it('rolls back in the shadow window when a fault drill makes the candidate fail its copies', async () => {
    const { model, stable, candidate } = await withCandidate();
    await injectFault(db, model, candidate, 0.5);
    const stop = traffic(model);
    const result = await (
      await start(
        model,
        candidate,
        quickPlan({
          shadow: {
            percent: 100,
            duration: '5s',
            checkInterval: '1s',
            checks: [
              {
                metric: 'shadow_agreement',
                against: 'absolute',
                pass: 0.9,
                fail: 0.8,
                minSamples: 10,
              },
            ],
          },
        }),
      )
    ).result();
    await stop();

    expect(result.outcome).toBe('rolled-back');
    expect(result.reason).toMatch(
      /^shadow: checks failed 2 times in a row: shadow_agreement 0\.\d+ beyond fail band 0\.8/,
    );
    // It never reached the canary: the route went back to stable without a step.
    expect(await routeChangePurposes(db, model)).toEqual(['load', 'shadow', 'rollback']);
    expect((await readRoute(db, model))?.weights).toEqual({ [stable]: 10_000, [candidate]: 0 });
  });

  it('never advances on inconclusive checks when the canary gets no traffic, then fails and rolls back', async () => {
    const { model, stable, candidate } = await withCandidate();
    const result = await (await start(model, candidate, quickPlan())).result();

    expect(result.outcome).toBe('rolled-back');
    expect(result.reason).toMatch(/inconclusive 4 times in a row: error_rate: 0 of 5 samples/);
    expect(result.status.timeline.map((event) => event.event)).not.toContain('promoted');
    expect((await readRoute(db, model))?.weights).toEqual({ [stable]: 10_000, [candidate]: 0 });
  });

  it('counts a metrics source that hangs as inconclusive, never a pass, and rolls back at the limit', async () => {
    const { model, stable, candidate } = await withCandidate();
    const stop = traffic(model);
    const handle = await start(
      model,
      candidate,
      // The bake outlasts the test: only the checks can end this step.
      quickPlan({
        steps: [{ weight: 50, bake: '60s', checkInterval: '1s' }],
        inconclusiveLimit: 2,
      }),
    );
    await untilStage(handle, 'canary');

    // Every read of the metric windows now waits behind this lock until the release is over.
    let unlock!: () => void;
    const locked = new Promise<void>((resolve) => (unlock = resolve));
    let held!: () => void;
    const holding = new Promise<void>((resolve) => (held = resolve));
    const lock = db.transaction(async (tx) => {
      await tx.query('LOCK TABLE metric_windows IN ACCESS EXCLUSIVE MODE');
      held();
      await locked;
    });
    await holding;
    const result = await handle.result().finally(() => unlock());
    await lock;
    await stop();

    expect(result.outcome).toBe('rolled-back');
    expect(result.reason).toMatch(
      /inconclusive 2 times in a row: error_rate: metrics source failed: .*(statement timeout|did not answer)/,
    );
    expect(result.status.recentChecks.slice(-2).map((round) => round.verdict)).toEqual([
      'inconclusive',
      'inconclusive',
    ]);
    expect((await readRoute(db, model))?.weights).toEqual({ [stable]: 10_000, [candidate]: 0 });
  });

  it('waits when values sit between the pass and fail bands after the bake time, and fails at the inconclusive limit', async () => {
    const { model, candidate } = await withCandidate();
    await injectFault(db, model, candidate, 0.3);
    const stop = traffic(model);
    const plan = quickPlan({
      checks: [{ metric: 'error_rate', against: 'absolute', pass: 0.01, fail: 0.9, minSamples: 5 }],
      inconclusiveLimit: 6,
    });
    const result = await (await start(model, candidate, plan)).result();
    await stop();

    expect(result.outcome).toBe('rolled-back');
    expect(result.reason).toMatch(
      /inconclusive 6 times in a row: error_rate 0\.\d+ between pass 0.01 and fail 0.9/,
    );
    expect(result.status.timeline.map((event) => event.event)).not.toContain('promoted');
  });

  it('leaves the route alone for a version already in production or rejected by its gate', async () => {
    const { model, stable, candidate } = await withCandidate();
    const before = await readRoute(db, model);

    const again = await (await start(model, stable, quickPlan())).result();
    expect(again.outcome).toBe('rejected');
    expect(again.reason).toMatch(/is already production/);
    await db.query(
      `UPDATE model_versions SET status = 'rejected' WHERE model = $1 AND version = $2`,
      [model, candidate],
    );
    const rejected = await (await start(model, candidate, quickPlan())).result();
    expect(rejected.outcome).toBe('rejected');
    expect(rejected.reason).toMatch(/is rejected and cannot be released/);

    // Neither wrote a route: stable keeps serving, nothing loads the rejected artifact.
    expect(await readRoute(db, model)).toEqual(before);
    expect(
      rejected.status.timeline.find((event) => event.event === 'rolled-back')?.details,
    ).toMatch(/^no traffic was moved/);
    expect((await findAliasedVersion(db, model, 'production'))?.version).toBe(stable);
  });

  it('refuses a plan that names an unknown metric before any traffic moves', async () => {
    const { model, stable, candidate } = await withCandidate();
    const handle = await start(
      model,
      candidate,
      quickPlan({
        checks: [{ metric: 'vibes' as 'error_rate', against: 'absolute', pass: 1, fail: 2 }],
      }),
    );
    const failure = await handle.result().catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect(String((failure as WorkflowFailedError).cause?.message)).toMatch(
      /checks.0.metric: must be one of error_rate/,
    );
    expect((await readRoute(db, model))?.weights).toEqual({ [stable]: 10_000 });
  });

  it('fails before any traffic or shadow copy reaches a candidate whose artifact is corrupt', async () => {
    const { model, stable, candidate } = await withCandidate({ corruptCandidate: true });
    const stop = traffic(model);
    const result = await (
      await start(model, candidate, quickPlan({ shadow: { percent: 50, duration: '2s' } }))
    ).result();
    await stop();

    expect(result.outcome).toBe('rolled-back');
    expect(result.reason).toMatch(/cannot load .* is corrupt/);
    expect(result.status.timeline.map((event) => event.event)).not.toContain('shadow');
    const stats = await versionStats(db, model, candidate, 0, Date.now() + 1000);
    expect(stats.requests + stats.shadowCompared).toBe(0);
    const route = await readRoute(db, model);
    expect(route?.weights).toEqual({ [stable]: 10_000, [candidate]: 0 });
    // The candidate is left cold, and the replica, serving stable, is ready.
    expect(route?.warm).toEqual([]);
    await expect
      .poll(async () => (await gateway.app.inject({ method: 'GET', url: '/readyz' })).statusCode, {
        timeout: 10_000,
      })
      .toBe(200);
  });

  it('leaves everything as it is when abort comes after the release ended', async () => {
    const { model, candidate } = await withCandidate();
    const stop = traffic(model);
    const handle = await start(model, candidate, quickPlan());
    await handle.result();
    await stop();
    const routeBefore = await readRoute(db, model);

    await expect(
      handle.executeUpdate('abort', { args: [{ approver: 'someone', channel: 'cli' }] }),
    ).rejects.toThrow();
    expect(await readRoute(db, model)).toEqual(routeBefore);
  });

  it('lets only a named approver approve, and a newer release wait until the route is free', async () => {
    const { model, stable, candidate } = await withCandidate();
    const v3 = await registerTrainedVersion(db, worker.store, model, { seed: 3 });
    const stop = traffic(model);
    const first = await start(
      model,
      candidate,
      quickPlan({ approvals: [{ before: 1, approvers: ['alice'], timeout: '1m' }] }),
    );
    await untilStage(first, 'awaiting-approval');

    const second = await start(model, v3.version, quickPlan());
    await untilStage(second, 'waiting-for-route');
    // `mlops release ls` lists the waiting one too.
    await expect
      .poll(async () => (await listReleases(db, model)).map((r) => [r.version, r.stage]))
      .toEqual(
        expect.arrayContaining([
          [v3.version, 'waiting-for-route'],
          [candidate, 'awaiting-approval'],
        ]),
      );
    const refused = await first
      .executeUpdate('approve', { args: [{ approver: 'mallory', channel: 'cli' }] })
      .catch((error: { cause?: { message?: string } }) => error);
    expect((refused as { cause?: { message?: string } }).cause?.message).toMatch(
      /mallory may not approve releases of .*; approvers: alice/,
    );
    await first.executeUpdate('abort', {
      args: [{ approver: 'alice', channel: 'cli', reason: 'v3 supersedes it' }],
    });

    const firstResult = (await first.result()) as ReleaseResult;
    expect(firstResult.outcome).toBe('aborted');
    const secondResult = (await second.result()) as ReleaseResult;
    await stop();
    expect(secondResult.outcome, secondResult.reason).toBe('promoted');
    expect(secondResult.status.stable).toBe(stable);
    expect((await findAliasedVersion(db, model, 'production'))?.version).toBe(v3.version);
  });

  it('holds an approval given while paused: nothing moves until an operator resumes', async () => {
    const { model, stable, candidate } = await withCandidate();
    const stop = traffic(model);
    const handle = await start(
      model,
      candidate,
      quickPlan({ approvals: [{ before: 'promotion', approvers: ['alice'], timeout: '1m' }] }),
    );
    await untilStage(handle, 'awaiting-approval');
    const alice = { approver: 'alice', channel: 'cli' };
    await handle.signal('pause', alice);
    await handle.executeUpdate('approve', { args: [alice] });

    // Approved, yet paused: production and the route stay where the canary left them.
    await expect
      .poll(async () => (await handle.query<{ waitingFor: string | null }>('status')).waitingFor, {
        timeout: 10_000,
      })
      .toMatch(/paused by an operator: approved, goes on when resumed/);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect((await findAliasedVersion(db, model, 'production'))?.version).toBe(stable);
    expect((await readRoute(db, model))?.weights).toEqual({ [stable]: 5_000, [candidate]: 5_000 });
    expect(await routeChangePurposes(db, model)).toEqual(['load', 'step-1']);

    await handle.signal('resume', alice);
    const result = await handle.result();
    await stop();
    expect(result.outcome, result.reason).toBe('promoted');
    expect((await findAliasedVersion(db, model, 'production'))?.version).toBe(candidate);
  });

  it('keeps the post-promotion watch after promote now, and reverts on a breach there', async () => {
    const { model, stable, candidate } = await withCandidate();
    const stop = traffic(model);
    const handle = await start(
      model,
      candidate,
      quickPlan({
        steps: [{ weight: 10, bake: '1m', checkInterval: '1s' }],
        approvals: [{ before: 'promotion', approvers: ['alice'] }],
        postPromotion: {
          watch: '1m',
          checkInterval: '500ms',
          checks: [
            { metric: 'error_rate', against: 'absolute', pass: 0.01, fail: 0.05, minSamples: 5 },
          ],
        },
      }),
    );
    await untilStage(handle, 'canary');
    await handle.executeUpdate('promote', { args: [{ approver: 'alice', channel: 'cli' }] });
    await expect
      .poll(async () => (await findAliasedVersion(db, model, 'production'))?.version, {
        timeout: 15_000,
      })
      .toBe(candidate);
    // The watch is still on: a fault now is caught and the promotion reverted.
    await injectFault(db, model, candidate, 1);
    const result = await handle.result();
    await stop();
    expect(result.outcome, result.reason).toBe('reverted');
    expect(result.reason).toMatch(/post-promotion: checks failed 2 times in a row: error_rate/);
    expect((await findAliasedVersion(db, model, 'production'))?.version).toBe(stable);
    expect((await readRoute(db, model))?.weights).toEqual({ [stable]: 10_000, [candidate]: 0 });
  });

  it('settles promote racing abort on one outcome that route, registry and audit log agree on', async () => {
    const { model, stable, candidate } = await withCandidate();
    const stop = traffic(model);
    const handle = await start(
      model,
      candidate,
      quickPlan({
        steps: [{ weight: 10, bake: '1m', checkInterval: '1s' }],
        approvals: [{ before: 'promotion', approvers: ['alice'] }],
      }),
    );
    await untilStage(handle, 'canary');

    const who = { approver: 'alice', channel: 'cli' };
    const [promote, abort] = await Promise.allSettled([
      handle.executeUpdate('promote', { args: [who] }),
      handle.executeUpdate('abort', { args: [who] }),
    ]);
    // Promote-now comes from an approver, so it stands in for the gate before promotion.
    const result = await handle.result();
    await stop();

    expect([promote.status, abort.status].filter((status) => status === 'fulfilled')).toHaveLength(
      1,
    );
    const production = (await findAliasedVersion(db, model, 'production'))?.version;
    const weights = (await readRoute(db, model))?.weights;
    const { rows } = await db.query<{ action: string }>(
      "SELECT action FROM audit_log WHERE model = $1 AND action IN ('release.promoted', 'release.rolled-back')",
      [model],
    );
    if (result.outcome === 'promoted') {
      expect(production).toBe(candidate);
      expect(weights).toEqual({ [stable]: 0, [candidate]: 10_000 });
      expect(rows.map((row) => row.action)).toEqual(['release.promoted']);
    } else {
      expect(result.outcome).toBe('aborted');
      expect(production).toBe(stable);
      expect(weights).toEqual({ [stable]: 10_000, [candidate]: 0 });
      expect(rows.map((row) => row.action)).toEqual(['release.rolled-back']);
    }
  });
});
