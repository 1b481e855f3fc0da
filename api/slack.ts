import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { identityForSlackUser } from '../lib/access/identities.js';
import type { Db } from '../lib/db/db.js';
import { NotFoundError } from '../lib/errors.js';
import { writeAudit } from '../lib/registry/audit.js';
import { VersionNumberSchema } from '../lib/registry/types.js';
import { parseWith } from '../lib/spec/parse.js';
import { ModelNameSchema } from '../lib/spec/training-spec.js';
import { releaseWorkflowId } from '../lib/temporal/conventions.js';
import { needs, principal } from './auth.js';
import { decideRelease, releaseStatus, type ReleaseApiOptions } from './releases.js';

const SlackAction = z
  .object({
    /** Slack's id of this delivery (the trigger id); a redelivery carries the same one. */
    deliveryKey: z.string().min(1).max(300),
    slackUserId: z.string().min(1),
    slackUserName: z.string().default(''),
    operation: z.enum(['approve', 'reject', 'status']),
    model: ModelNameSchema,
    version: VersionNumberSchema,
    reason: z.string().max(2000).optional(),
  })
  .strict();

const SlackRefusal = z
  .object({
    reason: z.string().min(1),
    path: z.string(),
    remoteAddress: z.string().default(''),
  })
  .strict();

export interface SlackActionAnswer {
  /** What the person sees in Slack. */
  message: string;
  accepted: boolean;
  duplicate: boolean;
}

/**
 * What the Slack bridge asks of the API, with its `delegate` token: act for a Slack user
 * it has verified, as the identity that user maps to, at most once per delivery; and
 * record requests it refused (bad signatures).
 */
export function addSlackRoutes(app: FastifyInstance, db: Db, temporal: ReleaseApiOptions): void {
  app.post('/v1/slack/actions', needs('delegate'), async (request) => {
    const action = parseWith(SlackAction, request.body ?? {}, 'request body');
    const claimed = await db.query(
      'INSERT INTO slack_deliveries (key) VALUES ($1) ON CONFLICT (key) DO NOTHING RETURNING key',
      [action.deliveryKey],
    );
    if (claimed.rows.length === 0) {
      const { rows } = await db.query<{ outcome: SlackActionAnswer | null }>(
        'SELECT outcome FROM slack_deliveries WHERE key = $1',
        [action.deliveryKey],
      );
      const earlier = rows[0]?.outcome;
      return {
        message: earlier?.message ?? 'this request is already being handled',
        accepted: false,
        duplicate: true,
      } satisfies SlackActionAnswer;
    }

    const answer = await answerSlackAction(db, temporal, action, principal(request).identity).catch(
      async (error: unknown) => {
        // Nothing was decided: free the delivery so Slack's retry, or the person's, can act.
        await db.query('DELETE FROM slack_deliveries WHERE key = $1', [action.deliveryKey]);
        throw error;
      },
    );
    await db.query('UPDATE slack_deliveries SET outcome = $2::jsonb WHERE key = $1', [
      action.deliveryKey,
      JSON.stringify(answer),
    ]);
    return answer;
  });

  app.post('/v1/slack/refusals', needs('delegate'), async (request) => {
    const refusal = parseWith(SlackRefusal, request.body ?? {}, 'request body');
    await writeAudit(db, {
      actor: principal(request).identity,
      channel: 'slack',
      action: 'slack.request-refused',
      details: refusal,
    });
    return { recorded: true };
  });
}

async function answerSlackAction(
  db: Db,
  temporal: ReleaseApiOptions,
  action: z.output<typeof SlackAction>,
  bridge: string,
): Promise<SlackActionAnswer> {
  // Refused before any release is asked: the person is told why, and the attempt is audited.
  const refuse = async (actor: string, message: string): Promise<SlackActionAnswer> => {
    await writeAudit(db, {
      actor,
      channel: 'slack',
      action: `release.${action.operation}`,
      model: action.model,
      version: action.version,
      details: {
        releaseId: releaseWorkflowId(action.model, action.version),
        result: 'refused',
        message,
        slackUserId: action.slackUserId,
        slackUserName: action.slackUserName,
        bridge,
      },
    });
    return { message, accepted: false, duplicate: false };
  };

  const identity = await identityForSlackUser(db, action.slackUserId);
  if (!identity)
    return refuse(
      `slack:${action.slackUserId}`,
      `Your Slack account (${action.slackUserId}) is not linked to an mlops identity, so nothing was done. An admin links it with \`mlops identities add <name> --slack ${action.slackUserId}\`.`,
    );
  if (identity.disabled)
    return refuse(
      identity.name,
      `Your mlops identity ${identity.name} is disabled, so nothing was done. Ask an admin to enable it.`,
    );

  if (action.operation === 'status') {
    const status = await releaseStatus(temporal, action.model, action.version).catch(
      (error: unknown) => {
        if (error instanceof NotFoundError) return null;
        throw error;
      },
    );
    if (!status)
      return {
        message: `There is no release of ${action.model} v${action.version}.`,
        accepted: false,
        duplicate: false,
      };
    const weights = Object.entries(status.weights)
      .map(([version, bp]) => `v${version} ${bp / 100}%`)
      .join(', ');
    return {
      message: `${action.model} v${action.version}: ${status.stage}, ${status.outcome}${weights ? ` (${weights})` : ''}${status.waitingFor ? `; waiting for ${status.waitingFor}` : ''}`,
      accepted: true,
      duplicate: false,
    };
  }

  const result = await decideRelease(
    { db, temporal },
    {
      model: action.model,
      version: action.version,
      operation: action.operation,
      who: {
        approver: identity.name,
        groups: identity.groups,
        channel: 'slack',
        slackUserId: action.slackUserId,
        slackUserName: action.slackUserName || undefined,
        reason: action.reason,
      },
    },
  );
  return {
    message: result.accepted
      ? `${action.model} v${action.version}: ${result.message}`
      : `Nothing was done: ${result.message}`,
    accepted: result.accepted,
    duplicate: false,
  };
}
