import { WebClient } from '@slack/web-api';
import { afterEach, describe, expect, it } from 'vitest';
import {
  APPROVE_ACTION_ID,
  outcomeMessage,
  parseButtonValue,
  REJECT_ACTION_ID,
  releaseMessage,
  type ReleaseNotice,
} from '../../lib/slack/messages.js';
import {
  SLACK_SIGNATURE_WINDOW_SECONDS,
  signSlackRequest,
  verifySlackSignature,
} from '../../lib/slack/signature.js';
import { startSlackRecorder, type SlackRecorder } from '../helpers/slack-recorder.js';

// Slack's documented example request, secret and signature.
const SLACK_EXAMPLE = {
  signingSecret: '8f742231b10e8888abcd99yyyzzz85a5',
  timestamp: '1531420618',
  rawBody:
    'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c',
  signature: 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
};

const SECRET = 'test-signing-secret';
const SIGNED_AT = 1_700_000_000;
const BODY = 'payload=%7B%22type%22%3A%22block_actions%22%7D';

const verifyAt = (
  nowSeconds: number,
  overrides: Partial<Parameters<typeof verifySlackSignature>[0]> = {},
) =>
  verifySlackSignature({
    signingSecret: SECRET,
    timestamp: String(SIGNED_AT),
    signature: signSlackRequest(SECRET, SIGNED_AT, BODY),
    rawBody: BODY,
    nowSeconds,
    ...overrides,
  });

describe('slack/signature', () => {
  it("reproduces Slack's documented example signature and accepts that request", () => {
    const { signingSecret, timestamp, rawBody, signature } = SLACK_EXAMPLE;

    expect(signSlackRequest(signingSecret, timestamp, rawBody)).toBe(signature);
    expect(signSlackRequest(signingSecret, Number(timestamp), Buffer.from(rawBody))).toBe(
      signature,
    );
    expect(verifySlackSignature({ ...SLACK_EXAMPLE, nowSeconds: Number(timestamp) + 10 })).toEqual({
      ok: true,
    });
  });

  it('accepts a request exactly 300 s old and exactly 300 s ahead of our clock', () => {
    expect(SLACK_SIGNATURE_WINDOW_SECONDS).toBe(300);
    expect(verifyAt(SIGNED_AT + 300)).toEqual({ ok: true });
    expect(verifyAt(SIGNED_AT - 300)).toEqual({ ok: true });
  });

  it('refuses a request 301 s old, saying how old it is and what the limit is', () => {
    expect(verifyAt(SIGNED_AT + 301)).toEqual({
      ok: false,
      reason: 'X-Slack-Request-Timestamp 1700000000 is 301 s old; the limit is 300 s',
    });
  });

  it('refuses a request 301 s ahead of our clock', () => {
    const verdict = verifyAt(SIGNED_AT - 301);
    expect(verdict.ok).toBe(false);
    expect(!verdict.ok && verdict.reason).toMatch(/1700000000 is 301 s in the future/);
  });

  it('refuses a body changed by one byte after signing', () => {
    const tampered = Buffer.from(BODY);
    tampered[tampered.length - 1] = tampered.at(-1)! ^ 1;

    expect(verifyAt(SIGNED_AT, { rawBody: tampered })).toEqual({
      ok: false,
      reason: 'X-Slack-Signature does not match the body',
    });
  });

  it('refuses a forged signature of the right length without printing the expected one', () => {
    const expected = signSlackRequest(SECRET, SIGNED_AT, BODY);
    const forged = `v0=${'0'.repeat(64)}`;
    expect(forged).toHaveLength(expected.length);

    const verdict = verifyAt(SIGNED_AT, { signature: forged });
    expect(verdict).toEqual({ ok: false, reason: 'X-Slack-Signature does not match the body' });
    expect(JSON.stringify(verdict)).not.toContain(expected.slice(3));
    expect(JSON.stringify(verdict)).not.toContain(SECRET);
  });

  it('refuses a forged signature of the wrong length instead of throwing', () => {
    expect(verifyAt(SIGNED_AT, { signature: 'v0=abc' })).toEqual({
      ok: false,
      reason: 'X-Slack-Signature does not match the body',
    });
    expect(verifyAt(SIGNED_AT, { signature: 'v1=abc' })).toEqual({
      ok: false,
      reason: 'X-Slack-Signature does not start with v0=',
    });
  });

  it('refuses a request whose signature or timestamp header is missing, naming the header', () => {
    expect(verifyAt(SIGNED_AT, { signature: undefined })).toEqual({
      ok: false,
      reason: 'X-Slack-Signature is missing',
    });
    expect(verifyAt(SIGNED_AT, { timestamp: undefined })).toEqual({
      ok: false,
      reason: 'X-Slack-Request-Timestamp is missing',
    });
  });

  it('refuses a timestamp that is not a string of digits, naming the value', () => {
    for (const timestamp of ['1700000000.5', '-1700000000', ' 1700000000', '17e8', 'now']) {
      const verdict = verifyAt(SIGNED_AT, {
        timestamp,
        signature: signSlackRequest(SECRET, timestamp, BODY),
      });
      expect(verdict.ok, timestamp).toBe(false);
      expect(!verdict.ok && verdict.reason).toContain(
        `X-Slack-Request-Timestamp ${JSON.stringify(timestamp)} is not whole seconds`,
      );
    }
  });

  it('throws when the signing secret is empty, since nothing could then be verified', () => {
    expect(() => verifyAt(SIGNED_AT, { signingSecret: '' })).toThrow(/signing secret is empty/);
    expect(() => signSlackRequest('', SIGNED_AT, BODY)).toThrow(/signing secret is empty/);
  });
});

const notice = (overrides: Partial<ReleaseNotice> = {}): ReleaseNotice => ({
  model: 'spam-filter',
  version: 2,
  stable: 1,
  stage: 'canary',
  outcome: 'running',
  weights: { '1': 9500, '2': 500 },
  waitingFor: null,
  checks: [{ verdict: 'pass', reason: 'error_rate 0.001 is within 0.01' }],
  uiUrl: 'http://localhost:8233/namespaces/default/workflows/release-spam-filter-2',
  latest: 'canary at 5% since 12:00',
  ...overrides,
});

type Block = { type: string; elements?: Array<Record<string, unknown>> };
const actionsOf = (blocks: unknown[]) =>
  (blocks as Block[]).filter((block) => block.type === 'actions');

describe('slack/messages', () => {
  it('shows Approve and Reject buttons only while the release waits for approval', () => {
    const waiting = releaseMessage(
      notice({ stage: 'awaiting-approval', waitingFor: 'approval from one of alice' }),
    );
    const [actions] = actionsOf(waiting.blocks);
    expect(actions?.elements).toMatchObject([
      { type: 'button', style: 'primary', action_id: APPROVE_ACTION_ID },
      { type: 'button', style: 'danger', action_id: REJECT_ACTION_ID },
    ]);

    expect(actionsOf(releaseMessage(notice()).blocks)).toEqual([]);
    expect(actionsOf(releaseMessage(notice({ waitingFor: 'bake of 5m' })).blocks)).toEqual([]);
  });

  it('gives each button a value that parseButtonValue reads back as the release', () => {
    const { blocks } = releaseMessage(notice({ waitingFor: 'approval from one of alice' }));
    const values = actionsOf(blocks)[0]!.elements!.map((button) => button.value as string);

    expect(values.map(parseButtonValue)).toEqual([
      { model: 'spam-filter', version: 2 },
      { model: 'spam-filter', version: 2 },
    ]);
  });

  it('refuses a button value that is not a release, naming the value', () => {
    expect(() => parseButtonValue('{"model":"x"}')).toThrow(
      /button value "\{\\"model\\":\\"x\\"\}" is not a release .*version/,
    );
    expect(() => parseButtonValue('not json')).toThrow('button value "not json" is not JSON');
  });

  it('renders traffic weights as percents and names the stable version', () => {
    const message = releaseMessage(notice({ weights: { '2': 500, '1': 9500 } }));
    const json = JSON.stringify(message.blocks);

    expect(json).toContain('v1 95% · v2 5%');
    expect(json).toContain('*Stable*\\nv1');
    expect(JSON.stringify(releaseMessage(notice({ weights: { '1': 9950, '2': 50 } })))).toContain(
      'v1 99.5% · v2 0.5%',
    );
    expect(message.text).toBe('spam-filter v2: canary, running; traffic v1 95% · v2 5%');
  });

  it('shows the last checks, escaping markup and cutting long reasons', () => {
    const long = 'x'.repeat(5000);
    const { blocks } = releaseMessage(
      notice({ checks: [{ verdict: 'fail', reason: `p99 <${long}` }] }),
    );
    const context = (blocks as Array<{ type: string; elements?: Array<{ text: string }> }>).find(
      (block) => block.type === 'context',
    );
    const text = context!.elements![0]!.text;

    expect(text).toMatch(/^Last checks\nfail: p99 &lt;x+…$/);
    expect(text.length).toBeLessThan(3000);
    expect(JSON.stringify(blocks)).toContain('<http://localhost:8233/');
  });

  it('summarises an ending in one line, with the reason when there is one', () => {
    expect(outcomeMessage({ ...notice({ outcome: 'promoted' }), reason: '' }).text).toBe(
      'spam-filter v2 promoted',
    );
    expect(
      outcomeMessage({
        ...notice({ version: 3, outcome: 'rolled-back' }),
        reason: 'error_rate failed 3 checks',
      }).text,
    ).toBe('spam-filter v3 rolled back: error_rate failed 3 checks');
  });
});

describe('startSlackRecorder', () => {
  let recorder: SlackRecorder | undefined;
  afterEach(async () => {
    await recorder?.close();
    recorder = undefined;
  });

  it('records what the real WebClient posts and updates, answering channel and ts', async () => {
    recorder = await startSlackRecorder();
    const slack = new WebClient('xoxb-test', {
      slackApiUrl: recorder.apiUrl,
      retryConfig: { retries: 0 },
    });
    const { text, blocks } = releaseMessage(notice());

    const posted = await slack.chat.postMessage({ channel: 'C123', text, blocks: blocks as [] });
    await slack.chat.update({ channel: 'C123', ts: posted.ts!, text, blocks: blocks as [] });

    expect(posted).toMatchObject({ ok: true, channel: 'C123', ts: '1700000000.000100' });
    const [post] = recorder.apiCalls('chat.postMessage');
    const [update] = recorder.apiCalls('chat.update');
    expect(post?.body).toMatchObject({ channel: 'C123', text, blocks });
    expect(post?.headers.authorization).toBe('Bearer xoxb-test');
    expect(update?.body).toMatchObject({ channel: 'C123', ts: posted.ts, blocks });
  });

  it('fails the next request when asked, so the WebClient call rejects', async () => {
    recorder = await startSlackRecorder();
    const slack = new WebClient('xoxb-test', {
      slackApiUrl: recorder.apiUrl,
      retryConfig: { retries: 0 },
    });

    recorder.failNext(1);
    await expect(slack.chat.postMessage({ channel: 'C123', text: 'hi' })).rejects.toThrow(/503/);
    await expect(slack.chat.postMessage({ channel: 'C123', text: 'hi' })).resolves.toMatchObject({
      ok: true,
    });
    expect(recorder.apiCalls('chat.postMessage').map((call) => call.status)).toEqual([503, 200]);
  });

  it('records response URL calls and reports the calls it saw when a wait times out', async () => {
    recorder = await startSlackRecorder();
    await fetch(recorder.responseUrl('a1'), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ replace_original: true, text: 'approved' }),
    });

    await recorder.waitFor((calls) => calls.length === 1);
    expect(recorder.responses('a1')).toMatchObject([{ body: { text: 'approved' } }]);
    expect(recorder.responses('other')).toEqual([]);
    await expect(recorder.waitFor(() => false, 60)).rejects.toThrow(/POST \/respond\/a1 -> 200/);
  });
});
