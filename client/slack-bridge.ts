import { createHash } from 'node:crypto';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyRequest,
} from 'fastify';
import { ConfigError } from '../lib/config.js';
import type { Logger } from '../lib/logger.js';
import { ModelNameSchema } from '../lib/spec/training-spec.js';
import { APPROVE_ACTION_ID, parseButtonValue, REJECT_ACTION_ID } from '../lib/slack/messages.js';
import { verifySlackSignature } from '../lib/slack/signature.js';
import type { ApiClient } from './api-client.js';

export interface SlackBridgeOptions {
  /** The Slack app's signing secret; empty or missing stops the bridge at start. */
  signingSecret: string | undefined;
  /** The API, with the bridge's own token (scope delegate). */
  api: ApiClient;
  logger: Logger;
  /** Seconds since the epoch; tests move the clock. */
  nowSeconds?: () => number;
}

/** What the bridge asks the API to do for one verified person. */
interface SlackWork {
  deliveryKey: string;
  slackUserId: string;
  slackUserName: string;
  operation: 'approve' | 'reject' | 'status';
  model: string;
  version: number;
  reason?: string;
  responseUrl: string;
}

const USAGE = 'Usage: `/mlops status|approve|reject <model> <version> [reason]`';

/**
 * The Slack bridge: Approve/Reject buttons and the `/mlops` slash command. Every request
 * is verified (v0 HMAC-SHA256 of `v0:<timestamp>:<raw body>`, 300 s window) before it is
 * read; a refused one gets 401 and an audit row. Slack gets its answer at once; the
 * decision is made afterwards, through the API as the person's mapped identity, and its
 * answer goes back through the interaction's response URL. A redelivered request acts once.
 */
export class SlackBridge {
  readonly app: FastifyInstance;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly options: SlackBridgeOptions) {
    if (!options.signingSecret?.trim())
      throw new ConfigError(
        'MLOPS_SLACK_SIGNING_SECRET is empty (or blank): the Slack bridge refuses to start without the signing secret (Slack app settings, Basic Information)',
      );
    this.app = Fastify({
      loggerInstance: options.logger.child(
        { component: 'slack-bridge' },
        { level: 'warn' },
      ) as FastifyBaseLogger,
    });
    // The signature covers the exact bytes Slack sent, so the body is kept raw until verified.
    this.app.addContentTypeParser(
      ['application/x-www-form-urlencoded', 'application/json'],
      { parseAs: 'buffer' },
      (_request, body, done) => done(null, body),
    );
    this.routes();
  }

  /** Waits for decisions still being made (tests, and shutdown). */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  async close(): Promise<void> {
    await this.app.close();
    await this.drain();
  }

  private routes(): void {
    this.app.get('/healthz', async () => ({ ok: true }));

    this.app.post('/slack/interactions', async (request, reply) => {
      const body = this.verified(request);
      if (!body) return reply.status(401).send({ error: 'invalid Slack signature' });
      const work = interactionWork(body);
      if ('problem' in work) {
        this.options.logger.warn({ problem: work.problem }, 'slack interaction ignored');
        return reply.status(200).send();
      }
      this.track(this.decide(work));
      return reply.status(200).send();
    });

    this.app.post('/slack/commands', async (request, reply) => {
      const body = this.verified(request);
      if (!body) return reply.status(401).send({ error: 'invalid Slack signature' });
      const work = commandWork(body);
      if ('problem' in work)
        return reply.send({ response_type: 'ephemeral', text: `${work.problem}\n${USAGE}` });
      this.track(this.decide(work));
      return reply.send({
        response_type: 'ephemeral',
        text: `Working on ${work.operation} ${work.model} v${work.version}…`,
      });
    });
  }

  /** The form fields of a request Slack signed, or null after refusing it (logged and audited). */
  private verified(request: FastifyRequest): URLSearchParams | null {
    const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const header = (name: string): string | undefined => {
      const value = request.headers[name];
      return Array.isArray(value) ? value[0] : value;
    };
    const verdict = verifySlackSignature({
      signingSecret: this.options.signingSecret!,
      timestamp: header('x-slack-request-timestamp'),
      signature: header('x-slack-signature'),
      rawBody: raw,
      nowSeconds: this.options.nowSeconds?.() ?? Date.now() / 1000,
    });
    if (verdict.ok) return new URLSearchParams(raw.toString('utf8'));

    this.options.logger.warn(
      { path: request.url, remoteAddress: request.ip, reason: verdict.reason },
      'slack request refused',
    );
    // The 401 goes out at once; the audit row follows.
    this.track(
      this.options.api
        .request('POST', '/v1/slack/refusals', {
          reason: verdict.reason,
          path: request.url,
          remoteAddress: request.ip,
        })
        .then(
          () => undefined,
          (error: unknown) =>
            this.options.logger.error(
              { err: error, reason: verdict.reason },
              'slack refusal could not be audited',
            ),
        ),
    );
    return null;
  }

  private track(work: Promise<void>): void {
    const done = work.finally(() => this.inFlight.delete(done));
    this.inFlight.add(done);
  }

  private async decide(work: SlackWork): Promise<void> {
    const { responseUrl, ...action } = work;
    let text: string;
    try {
      const answer = await this.options.api.request<{ message: string; duplicate: boolean }>(
        'POST',
        '/v1/slack/actions',
        action,
      );
      // A redelivered click was answered the first time; a second answer would only confuse.
      if (answer.duplicate) return;
      text = answer.message;
    } catch (error) {
      this.options.logger.error({ err: error, ...action }, 'slack action failed');
      text = `Nothing was done: mlops could not handle this (${(error as Error).message}). Try again, or use the CLI.`;
    }
    await fetch(responseUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ response_type: 'ephemeral', replace_original: false, text }),
      signal: AbortSignal.timeout(10_000),
    }).catch((error: unknown) =>
      this.options.logger.error({ err: error, ...action }, 'slack response could not be sent'),
    );
    this.options.logger.info(
      {
        operation: action.operation,
        model: action.model,
        version: action.version,
        slackUserId: action.slackUserId,
      },
      'slack action answered',
    );
  }
}

/** A redelivery carries the same trigger id; without one, the same bytes are the same delivery. */
function deliveryKey(kind: string, triggerId: string | undefined, body: URLSearchParams): string {
  return `${kind}:${triggerId || createHash('sha256').update(body.toString()).digest('hex')}`;
}

function interactionWork(body: URLSearchParams): SlackWork | { problem: string } {
  let payload: {
    type?: string;
    trigger_id?: string;
    response_url?: string;
    user?: { id?: string; username?: string; name?: string };
    actions?: Array<{ action_id?: string; value?: string; action_ts?: string }>;
  };
  try {
    payload = JSON.parse(body.get('payload') ?? '') as typeof payload;
  } catch {
    return { problem: 'payload is not JSON' };
  }
  const action = payload.actions?.[0];
  if (payload.type !== 'block_actions' || !action)
    return { problem: `unsupported interaction ${payload.type ?? 'without type'}` };
  const operation =
    action.action_id === APPROVE_ACTION_ID
      ? 'approve'
      : action.action_id === REJECT_ACTION_ID
        ? 'reject'
        : null;
  if (!operation) return { problem: `unknown action ${action.action_id}` };
  if (!payload.user?.id || !payload.response_url)
    return { problem: 'interaction without user or response_url' };
  let release;
  try {
    release = parseButtonValue(action.value ?? '');
  } catch (error) {
    return { problem: (error as Error).message };
  }
  return {
    deliveryKey: deliveryKey(
      'interaction',
      payload.trigger_id ?? `${payload.user.id}:${action.action_ts ?? ''}`,
      body,
    ),
    slackUserId: payload.user.id,
    slackUserName: payload.user.username ?? payload.user.name ?? '',
    operation,
    ...release,
    reason: 'from the Slack approval request',
    responseUrl: payload.response_url,
  };
}

function commandWork(body: URLSearchParams): SlackWork | { problem: string } {
  const words = (body.get('text') ?? '').trim().split(/\s+/).filter(Boolean);
  const [operation, model, versionText, ...reason] = words;
  if (operation !== 'status' && operation !== 'approve' && operation !== 'reject')
    return { problem: `Unknown subcommand ${JSON.stringify(operation ?? '')}.` };
  if (!model || !versionText) return { problem: 'Name the model and the version.' };
  const modelName = ModelNameSchema.safeParse(model);
  if (!modelName.success)
    return {
      problem: `model: ${modelName.error.issues[0]?.message ?? 'is not a model name'} (got ${JSON.stringify(model)}).`,
    };
  if (!/^[1-9]\d{0,9}$/.test(versionText))
    return {
      problem: `version: must be a positive whole number (got ${JSON.stringify(versionText)}).`,
    };
  const userId = body.get('user_id');
  const responseUrl = body.get('response_url');
  if (!userId || !responseUrl) return { problem: 'The request has no user_id or response_url.' };
  return {
    deliveryKey: deliveryKey('command', body.get('trigger_id') ?? undefined, body),
    slackUserId: userId,
    slackUserName: body.get('user_name') ?? '',
    operation,
    model,
    version: Number(versionText),
    reason: reason.length > 0 ? reason.join(' ') : undefined,
    responseUrl,
  };
}
