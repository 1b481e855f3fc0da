import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../api/server.js';
import { ApiClient } from '../../client/api-client.js';
import { SlackBridge } from '../../client/slack-bridge.js';
import { setModelAccess } from '../../lib/access/model-access.js';
import type { Db } from '../../lib/db/db.js';
import { createLogger } from '../../lib/logger.js';
import { findAliasedVersion } from '../../lib/registry/versions.js';
import type { ReleasePlanInput } from '../../lib/release/plan.js';
import { APPROVE_ACTION_ID, REJECT_ACTION_ID } from '../../lib/slack/messages.js';
import { signSlackRequest } from '../../lib/slack/signature.js';
import type { Gateway } from '../../serving/gateway.js';
import {
  approveUpdate,
  type releaseWorkflow,
  type ReleaseResult,
  type ReleaseStatus,
} from '../../workflows/release.js';
import {
  apiWithUnreachableTemporal,
  identityWithToken,
  injectAs,
  startTestApi,
} from '../helpers/access.js';
import { recordHistory } from '../helpers/histories.js';
import { freshDatabase, startTestWorker, temporalClient, type TestWorker } from '../helpers/env.js';
import { modelWithCandidate, sendTraffic, startQuickGateway } from '../helpers/release.js';
import { startSlackRecorder, type SlackRecorder } from '../helpers/slack-recorder.js';

const SIGNING_SECRET = 'test-signing-secret-0123456789abcdef';
const CHANNEL = 'C0RELEASES';

const gatedPlan = (approvers: string[]): ReleasePlanInput => ({
  steps: [{ weight: 50, bake: '2s', checkInterval: '1s' }],
  checks: [{ metric: 'error_rate', against: 'absolute', pass: 0.01, fail: 0.05, minSamples: 5 }],
  failureLimit: 2,
  inconclusiveLimit: 4,
  loadTimeout: '20s',
  approvals: [{ before: 1, approvers, timeout: '2m' }],
});

interface AuditRow {
  actor: string;
  channel: string;
  action: string;
  details: Record<string, unknown>;
}

describe('approvals from Slack and the CLI', () => {
  let db: Db;
  let worker: TestWorker;
  let gateway: Gateway;
  let client: Client;
  let recorder: SlackRecorder;
  let api: FastifyInstance;
  let apiUrl: string;
  let bridge: SlackBridge;
  let bridgeUrl: string;
  let clockSeconds: number | null = null;
  const tokens: Record<string, string> = {};
  const stoppers: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    db = await freshDatabase();
    recorder = await startSlackRecorder();
    worker = await startTestWorker({
      db,
      slack: { botToken: 'xoxb-test', apiUrl: recorder.apiUrl, defaultChannel: CHANNEL },
    });
    gateway = await startQuickGateway(db, worker.store);
    client = await temporalClient();
    ({ api, url: apiUrl } = await startTestApi(db, client, worker.taskQueue));

    tokens.alice = await identityWithToken(db, 'alice', {
      scopes: ['read', 'approve'],
      groups: ['ml-leads'],
      slackUserId: 'U0ALICE',
    });
    tokens.bob = await identityWithToken(db, 'bob', {
      scopes: ['read', 'approve', 'release'],
      slackUserId: 'U0BOB',
    });
    tokens.mallory = await identityWithToken(db, 'mallory', {
      scopes: ['read', 'approve'],
      slackUserId: 'U0MALLORY',
    });
    tokens.ci = await identityWithToken(db, 'ci-bot', { scopes: ['read', 'release'] });
    tokens.bridge = await identityWithToken(db, 'slack-bridge', { scopes: ['delegate', 'read'] });

    bridge = new SlackBridge({
      signingSecret: SIGNING_SECRET,
      api: new ApiClient(apiUrl, tokens.bridge),
      logger: createLogger('silent'),
      nowSeconds: () => clockSeconds ?? Date.now() / 1000,
    });
    bridgeUrl = await bridge.app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    for (const stop of stoppers) await stop();
    await bridge?.close();
    await api?.close();
    await gateway?.stop();
    await worker?.stop();
    await recorder?.close();
    await db?.close();
  });

  const as = (who: string) => new ApiClient(apiUrl, tokens[who]);
  const startRelease = async (model: string, version: number, plan: unknown, who = 'ci') =>
    as(who).request('POST', '/v1/releases', { model, version, plan });
  const status = (model: string, version: number) =>
    as('ci').get<ReleaseStatus>(`/v1/releases/${model}/${version}`);
  const awaitStage = (model: string, version: number, stage: string) =>
    expect.poll(async () => (await status(model, version)).stage, { timeout: 20_000 }).toBe(stage);
  const result = (model: string, version: number): Promise<ReleaseResult> =>
    client.workflow.getHandle(`release/${model}/v${version}`).result();
  const audit = async (model: string | null, action: string): Promise<AuditRow[]> =>
    (
      await db.query<AuditRow>(
        `SELECT actor, channel, action, details FROM audit_log
          WHERE model IS NOT DISTINCT FROM $1 AND action = $2 ORDER BY id`,
        [model, action],
      )
    ).rows;
  const withTraffic = async () => {
    const release = await modelWithCandidate(db, worker.store, gateway);
    const stop = sendTraffic(gateway, release.model);
    stoppers.push(stop);
    return release;
  };

  /** The Slack Web API calls about one release (its message names model and version). */
  const slackCallsAbout = (release: { model: string; candidate: number }, method: string) =>
    recorder
      .apiCalls(method)
      .filter((call) =>
        JSON.stringify(call.body).includes(`${release.model} v${release.candidate}`),
      );

  /** Posts a body to the bridge signed as Slack would, or as an attacker would. */
  const slackPost = (
    path: string,
    body: string,
    options: { timestamp?: number; signature?: string; sendBody?: string } = {},
  ) => {
    const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
    return fetch(`${bridgeUrl}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-slack-request-timestamp': String(timestamp),
        'x-slack-signature': options.signature ?? signSlackRequest(SIGNING_SECRET, timestamp, body),
      },
      body: options.sendBody ?? body,
    });
  };
  const click = (
    user: string,
    release: { model: string; version: number },
    action: 'approve' | 'reject',
    triggerId: string,
  ) =>
    slackPost(
      '/slack/interactions',
      new URLSearchParams({
        payload: JSON.stringify({
          type: 'block_actions',
          trigger_id: triggerId,
          response_url: recorder.responseUrl(triggerId),
          user: { id: user, username: user.toLowerCase() },
          actions: [
            {
              action_id: action === 'approve' ? APPROVE_ACTION_ID : REJECT_ACTION_ID,
              value: JSON.stringify(release),
              action_ts: '1700000000.000100',
            },
          ],
        }),
      }).toString(),
    );
  const command = (user: string, text: string, triggerId: string) =>
    slackPost(
      '/slack/commands',
      new URLSearchParams({
        command: '/mlops',
        text,
        user_id: user,
        user_name: user.toLowerCase(),
        trigger_id: triggerId,
        response_url: recorder.responseUrl(triggerId),
      }).toString(),
    );
  const answerTo = async (triggerId: string): Promise<string> => {
    await recorder.waitFor(() => recorder.responses(triggerId).length > 0, 20_000);
    return String(recorder.responses(triggerId)[0]!.body.text);
  };

  it('refuses forged, stale, future and altered requests with 401 and an audit row each', async () => {
    const body = new URLSearchParams({ command: '/mlops', text: 'status x 1' }).toString();
    const now = Math.floor(Date.now() / 1000);
    clockSeconds = now;
    try {
      const forged = await slackPost('/slack/commands', body, {
        signature: `v0=${'0'.repeat(64)}`,
      });
      const stale = await slackPost('/slack/commands', body, { timestamp: now - 301 });
      const future = await slackPost('/slack/commands', body, { timestamp: now + 301 });
      const altered = await slackPost('/slack/commands', body, {
        sendBody: body.replace('status', 'approve'),
      });
      const edge = await slackPost('/slack/commands', 'text=', { timestamp: now - 300 });

      expect([forged.status, stale.status, future.status, altered.status]).toEqual([
        401, 401, 401, 401,
      ]);
      // 300 s old is inside the window; the request is read (and answered with usage).
      expect(edge.status).toBe(200);
    } finally {
      clockSeconds = null;
    }
    await bridge.drain();
    const refused = await audit(null, 'slack.request-refused');
    // The four refusals are audited in the background, in any order.
    expect(refused.map((row) => String(row.details.reason)).sort()).toEqual([
      expect.stringMatching(/is 301 s old; the limit is 300 s/),
      expect.stringMatching(/is 301 s in the future; the limit is 300 s/),
      'X-Slack-Signature does not match the body',
      'X-Slack-Signature does not match the body',
    ]);
    expect(refused.every((row) => row.channel === 'slack' && row.actor === 'slack-bridge')).toBe(
      true,
    );
  });

  it('posts one approval request, updates that message as the release moves, and threads the outcome', async () => {
    const release = await withTraffic();
    const target = { model: release.model, version: release.candidate };
    await startRelease(release.model, release.candidate, gatedPlan(['group:ml-leads']));
    await awaitStage(release.model, release.candidate, 'awaiting-approval');
    await recorder.waitFor(() =>
      recorder
        .apiCalls('chat.postMessage')
        .some((call) => JSON.stringify(call.body).includes(APPROVE_ACTION_ID)),
    );

    // Slack delivers the same click twice; it must act once.
    expect((await click('U0ALICE', target, 'approve', 'trigger-approve-1')).status).toBe(200);
    expect((await click('U0ALICE', target, 'approve', 'trigger-approve-1')).status).toBe(200);
    expect(await answerTo('trigger-approve-1')).toMatch(/approved by alice/);
    const outcome = await result(release.model, release.candidate);
    await bridge.drain();

    expect(outcome.outcome, outcome.reason).toBe('promoted');
    expect((await findAliasedVersion(db, release.model, 'production'))?.version).toBe(
      release.candidate,
    );
    expect(recorder.responses('trigger-approve-1')).toHaveLength(1);
    recordHistory(`release/${release.model}/v${release.candidate}`, 'release-approved-in-slack');
    const approvals = await audit(release.model, 'release.approve');
    expect(approvals).toEqual([
      {
        actor: 'alice',
        channel: 'slack',
        action: 'release.approve',
        details: expect.objectContaining({
          result: 'accepted',
          slackUserId: 'U0ALICE',
          slackUserName: 'u0alice',
          reason: 'from the Slack approval request',
        }),
      },
    ]);

    // One message for the release, updated in place; the only other post is the outcome, in its thread.
    const mine = (method: string) => slackCallsAbout(release, method);
    await recorder.waitFor(() => mine('chat.postMessage').length === 2);
    const [request, threaded] = mine('chat.postMessage');
    expect(request!.body.channel).toBe(CHANNEL);
    expect(JSON.stringify(request!.body.blocks)).toContain(
      `/namespaces/default/workflows/release%2F${release.model}%2Fv${release.candidate}|Open in Temporal UI`,
    );
    const ts = String(mine('chat.update')[0]!.body.ts);
    expect(mine('chat.update').length).toBeGreaterThanOrEqual(2);
    expect(mine('chat.update').every((call) => call.body.ts === ts)).toBe(true);
    expect(threaded!.body.thread_ts).toBe(ts);
    expect(String(threaded!.body.text)).toMatch(/promoted/);
    // The last update shows the outcome and no longer offers buttons.
    const last = mine('chat.update').at(-1)!;
    expect(JSON.stringify(last.body.blocks)).not.toContain(APPROVE_ACTION_ID);
  });

  it('keeps one message for a release that continues as new', async () => {
    const release = await withTraffic();
    // Started directly to set a history limit small enough that the canary hands over
    // from run to run; the message must follow the release, not the run.
    const handle = await client.workflow.start<typeof releaseWorkflow>('releaseWorkflow', {
      workflowId: `release/${release.model}/v${release.candidate}`,
      taskQueue: worker.taskQueue,
      args: [
        {
          model: release.model,
          version: release.candidate,
          plan: {
            ...gatedPlan(['group:ml-leads']),
            steps: [{ weight: 50, bake: '4s', checkInterval: '500ms' }],
          },
          requestedBy: 'ci-bot',
          historyLimit: 20,
        },
      ],
    });
    await awaitStage(release.model, release.candidate, 'awaiting-approval');
    await handle.executeUpdate(approveUpdate, {
      args: [{ approver: 'alice', groups: ['ml-leads'], channel: 'cli' }],
    });
    const outcome = await handle.result();

    expect(outcome.outcome, outcome.reason).toBe('promoted');
    expect(outcome.status.runs).toBeGreaterThanOrEqual(2);
    const mine = (method: string) => slackCallsAbout(release, method);
    await recorder.waitFor(() => mine('chat.postMessage').length === 2);
    const [request, threaded] = mine('chat.postMessage');
    expect(threaded!.body.thread_ts).toBeDefined();
    expect(mine('chat.update').every((call) => call.body.ts === threaded!.body.thread_ts)).toBe(
      true,
    );
    expect(request!.body.thread_ts).toBeUndefined();
    // Still two a moment later: no run posted a message of its own.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(mine('chat.postMessage')).toHaveLength(2);
  });

  it('tells an unknown Slack user, a user not allowed, and an unknown or finished release what happened, approving nothing', async () => {
    const release = await withTraffic();
    const target = { model: release.model, version: release.candidate };
    await startRelease(release.model, release.candidate, gatedPlan(['alice']));
    await awaitStage(release.model, release.candidate, 'awaiting-approval');

    await click('U0STRANGER', target, 'approve', 'trigger-stranger');
    await click('U0MALLORY', target, 'approve', 'trigger-mallory');
    await command('U0ALICE', `approve ${release.model} 99`, 'trigger-unknown-release');

    expect(await answerTo('trigger-stranger')).toMatch(
      /Your Slack account \(U0STRANGER\) is not linked to an mlops identity, so nothing was done/,
    );
    expect(await answerTo('trigger-mallory')).toMatch(
      /Nothing was done: mallory may not approve releases of .* at this gate; approvers: alice/,
    );
    expect(await answerTo('trigger-unknown-release')).toMatch(
      new RegExp(`Nothing was done: there is no release of ${release.model} v99`),
    );
    expect((await status(release.model, release.candidate)).stage).toBe('awaiting-approval');

    await click('U0ALICE', target, 'reject', 'trigger-reject');
    expect(await answerTo('trigger-reject')).toMatch(/rejected by alice/);
    expect((await result(release.model, release.candidate)).outcome).toBe('rejected');
    recordHistory(`release/${release.model}/v${release.candidate}`, 'release-rejected-in-slack');
    // Released again, the same version gets a message of its own, not the old one updated.
    const posts = () =>
      recorder
        .apiCalls('chat.postMessage')
        .filter(
          (call) =>
            call.body.thread_ts === undefined &&
            JSON.stringify(call.body).includes(`${release.model} v${release.candidate}`),
        ).length;
    expect(posts()).toBe(1);
    await startRelease(release.model, release.candidate, gatedPlan(['alice']));
    await awaitStage(release.model, release.candidate, 'awaiting-approval');
    await recorder.waitFor(() => posts() === 2);
    await click('U0ALICE', target, 'reject', 'trigger-reject-again');
    expect(await answerTo('trigger-reject-again')).toMatch(/rejected by alice/);
    expect((await result(release.model, release.candidate)).outcome).toBe('rejected');
    await click('U0ALICE', target, 'approve', 'trigger-too-late');
    expect(await answerTo('trigger-too-late')).toMatch(
      new RegExp(
        `Nothing was done: the release of ${release.model} v${release.candidate} is over \\(rejected\\)`,
      ),
    );

    const attempts = (await audit(release.model, 'release.approve')).map(
      (row) =>
        `${row.actor} ${String(row.details.releaseId ?? '')
          .split('/')
          .at(-1)} ${String(row.details.result)}`,
    );
    expect(attempts.sort()).toEqual([
      `alice v${release.candidate} refused`,
      'alice v99 refused',
      `mallory v${release.candidate} refused`,
      `slack:U0STRANGER v${release.candidate} refused`,
    ]);
    expect((await findAliasedVersion(db, release.model, 'production'))?.version).toBe(
      release.stable,
    );
  });

  it('lets no one approve their own release when the model requires another approver, and records CLI decisions', async () => {
    const release = await withTraffic();
    await setModelAccess(
      db,
      release.model,
      { approvers: ['bob', 'alice'], starterMayApprove: false, slackChannel: null },
      'test',
    );
    // bob starts the release and names himself; the model's rule still stops him.
    await startRelease(
      release.model,
      release.candidate,
      gatedPlan(['bob', 'alice', 'mallory']),
      'bob',
    );
    await awaitStage(release.model, release.candidate, 'awaiting-approval');
    const path = `/v1/releases/${release.model}/${release.candidate}`;

    await expect(as('bob').request('POST', `${path}/approve`, { reason: 'mine' })).rejects.toThrow(
      /bob started this release and .* requires someone else to approve it/,
    );
    // The plan names mallory, but the model's approver list does not: a plan cannot widen it.
    await expect(as('mallory').request('POST', `${path}/approve`, {})).rejects.toThrow(
      /mallory is not among .*'s approvers \(bob, alice\)/,
    );
    await expect(as('ci').request('POST', `${path}/approve`, {})).rejects.toThrow(
      /needs a token with scope approve; the token of ci-bot has read, release/,
    );
    const accepted = await as('alice').request<{ message: string }>('POST', `${path}/approve`, {
      reason: 'checks look right',
    });
    expect(accepted.message).toMatch(/approved by alice/);
    expect((await result(release.model, release.candidate)).outcome).toBe('promoted');

    const rows = await audit(release.model, 'release.approve');
    expect(
      rows.map((row) => [row.actor, row.channel, row.details.result, row.details.reason]),
    ).toEqual([
      ['bob', 'cli', 'refused', 'mine'],
      ['mallory', 'cli', 'refused', undefined],
      ['alice', 'cli', 'accepted', 'checks look right'],
    ]);
    expect((await audit(release.model, 'release.start'))[0]).toMatchObject({ actor: 'bob' });
  });

  it('keeps releasing when Slack is unreachable, and records each notice that could not be sent', async () => {
    const release = await withTraffic();
    recorder.failNext(1_000);
    try {
      await startRelease(release.model, release.candidate, gatedPlan(['bob']));
      await awaitStage(release.model, release.candidate, 'awaiting-approval');
      await as('bob').request(
        'POST',
        `/v1/releases/${release.model}/${release.candidate}/approve`,
        {},
      );
      const outcome = await result(release.model, release.candidate);
      expect(outcome.outcome, outcome.reason).toBe('promoted');
    } finally {
      recorder.failNext(0);
    }
    const failed = await audit(release.model, 'release.notice-failed');
    expect(failed.length).toBeGreaterThan(0);
    expect(failed[0]!.details).toMatchObject({
      channel: CHANNEL,
      error: expect.stringMatching(/503/),
    });
  }, 120_000);

  it('never approves on a gate timeout: rejects, or keeps waiting, as the plan says', async () => {
    const rejecting = await modelWithCandidate(db, worker.store, gateway);
    const waiting = await modelWithCandidate(db, worker.store, gateway);
    const withGate = (onTimeout: 'reject' | 'wait') => ({
      ...gatedPlan(['alice']),
      approvals: [{ before: 1, approvers: ['alice'], timeout: '2s', onTimeout }],
    });
    await startRelease(rejecting.model, rejecting.candidate, withGate('reject'));
    await startRelease(waiting.model, waiting.candidate, withGate('wait'));

    const rejected = await result(rejecting.model, rejecting.candidate);
    expect(rejected.outcome).toBe('rejected');
    expect(rejected.reason).toBe('no approval within 2s; a timeout never approves');
    expect((await findAliasedVersion(db, rejecting.model, 'production'))?.version).toBe(
      rejecting.stable,
    );
    // Well past its timeout, the waiting gate still waits, with nobody's approval.
    await awaitStage(waiting.model, waiting.candidate, 'awaiting-approval');
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect((await status(waiting.model, waiting.candidate)).stage).toBe('awaiting-approval');
    await as('bob').request('POST', `/v1/releases/${waiting.model}/${waiting.candidate}/abort`, {});
    expect((await result(waiting.model, waiting.candidate)).outcome).toBe('aborted');
  });

  it('refuses before starting a gate nobody could approve, and a second start with another plan', async () => {
    const release = await modelWithCandidate(db, worker.store, gateway);
    await setModelAccess(
      db,
      release.model,
      { approvers: ['alice'], starterMayApprove: true, slackChannel: null },
      'test',
    );

    await expect(
      startRelease(release.model, release.candidate, gatedPlan(['nosuchperson'])),
    ).rejects.toThrow(
      /plan\.approvals\.0\.approvers: must name existing identities \(no identity nosuchperson/,
    );
    await expect(
      startRelease(release.model, release.candidate, gatedPlan(['mallory'])),
    ).rejects.toThrow(
      /nobody can approve this gate: no enabled identity is both named here \(mallory\) and among .*'s approvers \(alice\)/,
    );
    await expect(status(release.model, release.candidate)).rejects.toThrow(/there is no release/);

    await startRelease(release.model, release.candidate, gatedPlan(['alice']));
    // The same plan again is a retry; another plan is refused.
    await startRelease(release.model, release.candidate, gatedPlan(['alice']));
    await expect(
      startRelease(release.model, release.candidate, gatedPlan(['group:ml-leads'])),
    ).rejects.toThrow(/already running with a different plan; abort it/);
    await as('bob').request('POST', `/v1/releases/${release.model}/${release.candidate}/abort`, {});
    expect((await result(release.model, release.candidate)).outcome).toBe('aborted');
  });

  it('answers the slash command status for a mapped user', async () => {
    const release = await withTraffic();
    await startRelease(release.model, release.candidate, gatedPlan(['alice']));
    await awaitStage(release.model, release.candidate, 'awaiting-approval');

    const ack = await command(
      'U0BOB',
      `status ${release.model} ${release.candidate}`,
      'trigger-status',
    );
    expect(ack.status).toBe(200);
    expect(((await ack.json()) as { text: string }).text).toMatch(/Working on status/);
    expect(await answerTo('trigger-status')).toMatch(
      /awaiting-approval, running .*waiting for approval from one of alice/,
    );
    const usage = await command('U0BOB', 'deploy everything', 'trigger-usage');
    expect(((await usage.json()) as { text: string }).text).toMatch(/Unknown subcommand "deploy"/);
    const badModel = await command('U0BOB', 'approve Spam-Filter 1', 'trigger-bad-model');
    expect(((await badModel.json()) as { text: string }).text).toMatch(
      /model: must be lower-case words joined by "-", like spam-filter \(got "Spam-Filter"\)/,
    );

    await as('bob').request('POST', `/v1/releases/${release.model}/${release.candidate}/abort`, {
      reason: 'test over',
    });
    expect((await result(release.model, release.candidate)).outcome).toBe('aborted');
  });
});

describe('API tokens', () => {
  let db: Db;
  let api: FastifyInstance;

  beforeAll(async () => {
    db = await freshDatabase();
    api = await buildApi({
      db,
      logger: createLogger('silent'),
      adminToken: 'bootstrap-admin-token-0123456789',
    });
  });
  afterAll(async () => {
    await api?.close();
    await db?.close();
  });

  const call = (
    token: string | null,
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    url: string,
    payload?: object,
  ) =>
    api.inject({
      method,
      url,
      payload,
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });

  it('stores only a hash, shows a token once, and refuses it once revoked', async () => {
    const admin = 'bootstrap-admin-token-0123456789';
    expect(
      (await call(admin, 'PUT', '/v1/identities/dana', { groups: ['ml-leads'] })).statusCode,
    ).toBe(200);
    const created = await call(admin, 'POST', '/v1/tokens', { identity: 'dana', scopes: ['read'] });
    expect(created.statusCode).toBe(201);
    const { id, token } = created.json() as { id: string; token: string };

    const stored = await db.query<Record<string, unknown>>(
      'SELECT * FROM api_tokens WHERE id = $1',
      [id],
    );
    expect(JSON.stringify(stored.rows)).not.toContain(token);
    expect((await call(token, 'GET', '/v1/whoami')).json()).toMatchObject({
      identity: 'dana',
      groups: ['ml-leads'],
      scopes: ['read'],
    });
    expect((await call(admin, 'GET', '/v1/tokens')).json().tokens).not.toContainEqual(
      expect.objectContaining({ token }),
    );

    expect(
      (await call(token, 'POST', '/v1/tokens', { identity: 'dana', scopes: ['admin'] })).statusCode,
    ).toBe(403);
    expect((await call(admin, 'DELETE', `/v1/tokens/${id}`)).statusCode).toBe(200);
    const revoked = await call(token, 'GET', '/v1/whoami');
    expect(revoked.statusCode).toBe(401);
    expect(revoked.json().error.message).toMatch(/unknown, revoked, or its identity is disabled/);
    expect((await call(null, 'GET', '/v1/models')).statusCode).toBe(401);
    expect((await call('mlops_000000000000_forged', 'GET', '/v1/models')).statusCode).toBe(401);
  });

  it('changes only the fields given, refuses a Slack user already taken and an admin disabling itself', async () => {
    const admin = 'bootstrap-admin-token-0123456789';
    await call(admin, 'PUT', '/v1/identities/erin', {
      slackUserId: 'U0ERIN',
      groups: ['ml-leads'],
    });
    const renamed = await call(admin, 'PUT', '/v1/identities/erin', { displayName: 'Erin' });
    expect(renamed.json()).toMatchObject({
      slackUserId: 'U0ERIN',
      groups: ['ml-leads'],
      displayName: 'Erin',
    });

    const taken = await call(admin, 'PUT', '/v1/identities/frank', { slackUserId: 'U0ERIN' });
    expect(taken.statusCode).toBe(409);
    expect(taken.json().error.message).toMatch(/Slack user U0ERIN already acts as identity erin/);

    await call(admin, 'PUT', '/v1/identities/root', {});
    const rootToken = (
      await call(admin, 'POST', '/v1/tokens', { identity: 'root', scopes: ['admin'] })
    ).json().token as string;
    const lockout = await call(rootToken, 'PUT', '/v1/identities/root', { disabled: true });
    expect(lockout.statusCode).toBe(400);
    expect(lockout.json().error.message).toMatch(/root is the identity this token acts as/);

    await call(admin, 'PUT', '/v1/models/m1/access', {
      approvers: ['erin', 'group:ml-leads'],
      starterMayApprove: false,
      slackChannel: 'C0M1',
    });
    const narrowed = await call(admin, 'PUT', '/v1/models/m1/access', { approvers: ['erin'] });
    expect(narrowed.json()).toEqual({
      model: 'm1',
      approvers: ['erin'],
      starterMayApprove: false,
      slackChannel: 'C0M1',
    });
  });

  it('audits a known caller reaching past the scopes of its token', async () => {
    const admin = 'bootstrap-admin-token-0123456789';
    await call(admin, 'PUT', '/v1/identities/gina', {});
    const token = (
      await call(admin, 'POST', '/v1/tokens', { identity: 'gina', scopes: ['read'] })
    ).json().token as string;

    expect(
      (await call(token, 'POST', '/v1/tokens', { identity: 'gina', scopes: ['admin'] })).statusCode,
    ).toBe(403);
    const { rows } = await db.query<{ actor: string; details: Record<string, unknown> }>(
      `SELECT actor, details FROM audit_log WHERE action = 'access.refused' AND actor = 'gina'`,
    );
    expect(rows).toEqual([
      { actor: 'gina', details: { route: 'POST /v1/tokens', needs: 'admin', has: ['read'] } },
    ]);
  });

  it('refuses a token for an identity that does not exist, or a scope that does not, naming it', async () => {
    const admin = 'bootstrap-admin-token-0123456789';
    const nobody = await call(admin, 'POST', '/v1/tokens', {
      identity: 'nobody',
      scopes: ['read'],
    });
    expect(nobody.statusCode).toBe(404);
    expect(nobody.json().error.message).toMatch(/there is no identity nobody/);
    const badScope = await call(admin, 'POST', '/v1/tokens', {
      identity: 'dana',
      scopes: ['root'],
    });
    expect(badScope.statusCode).toBe(400);
    expect(badScope.json().error.message).toMatch(
      /scopes\.0: must be one of read, train, release, approve, admin, delegate \(got "root"\)/,
    );
  });
});

describe('the Slack bridge', () => {
  it('refuses to start without a signing secret', () => {
    for (const signingSecret of ['', '   ', undefined])
      expect(
        () =>
          new SlackBridge({
            signingSecret,
            api: new ApiClient('http://127.0.0.1:1'),
            logger: createLogger('silent'),
          }),
      ).toThrow(
        /MLOPS_SLACK_SIGNING_SECRET is empty \(or blank\): the Slack bridge refuses to start/,
      );
  });
});

describe('decisions while Temporal is unreachable', () => {
  it('answer 503 naming Temporal, record no decision, and leave the Slack delivery free for a retry', async () => {
    const db = await freshDatabase();
    const address = '127.0.0.1:1';
    const { api, close } = await apiWithUnreachableTemporal(db, address);
    try {
      const bridge = await identityWithToken(db, 'slack-bridge', { scopes: ['delegate'] });
      const alice = await identityWithToken(db, 'alice', { slackUserId: 'U0ALICE' });
      const action = {
        deliveryKey: 'interaction:retry-me',
        slackUserId: 'U0ALICE',
        operation: 'approve',
        model: 'spam-filter',
        version: 2,
      };

      const viaSlack = await injectAs(
        api,
        bridge,
      )({ method: 'POST', url: '/v1/slack/actions', payload: action });
      const viaCli = await injectAs(
        api,
        alice,
      )({
        method: 'POST',
        url: '/v1/releases/spam-filter/2/approve',
        payload: {},
      });

      for (const response of [viaSlack, viaCli]) {
        expect(response.statusCode).toBe(503);
        expect(response.json().error.message).toMatch(/cannot reach Temporal at 127\.0\.0\.1:1/);
      }
      expect((await db.query('SELECT 1 FROM slack_deliveries')).rows).toEqual([]);
      expect(
        (await db.query(`SELECT 1 FROM audit_log WHERE action LIKE 'release.%'`)).rows,
      ).toEqual([]);
    } finally {
      await close();
      await db.close();
    }
  });
});
