import { Context } from '@temporalio/activity';
import { WebClient } from '@slack/web-api';
import { getApprovalPolicy } from '../lib/access/model-access.js';
import type { ApprovalPolicy } from '../lib/release/approvers.js';
import { outcomeMessage, releaseMessage, type ReleaseNotice } from '../lib/slack/messages.js';
import { temporalUiLink } from '../lib/temporal/conventions.js';
import { activityLogFields, type ActivityDeps } from './deps.js';
import { mapFailures } from './failures.js';

/** Where approval requests go, and how the Temporal UI links in them are built. */
export interface SlackNoticeSettings {
  botToken: string;
  apiUrl: string;
  defaultChannel: string | null;
}

export type NoticeInput = Omit<ReleaseNotice, 'uiUrl'> & {
  releaseId: string;
  /**
   * The release execution the message belongs to (workflow id and first run id), kept by
   * every run it continues as; older releases did not send it and used their run id.
   */
  releaseRun?: string;
  channel: string;
  /** Set on the release's last notice: its outcome is also posted in the message's thread. */
  final?: { reason: string };
};

export function noticeActivities(deps: ActivityDeps) {
  let client: WebClient | null = null;
  // Temporal retries a failed call; the Slack client must not retry on its own underneath.
  const slack = (settings: SlackNoticeSettings): WebClient =>
    (client ??= new WebClient(settings.botToken, {
      slackApiUrl: settings.apiUrl,
      retryConfig: { retries: 0 },
      timeout: 5_000,
    }));

  return {
    /**
     * A model's approval policy: who may approve, whether the starter may, and where its
     * notices go (none when this worker has no Slack bot token).
     */
    async getApprovalPolicy(input: { model: string }): Promise<ApprovalPolicy> {
      return mapFailures(async () => {
        const policy = await getApprovalPolicy(
          deps.db,
          input.model,
          deps.slack?.defaultChannel ?? null,
        );
        return deps.slack ? policy : { ...policy, slackChannel: null };
      });
    },

    /**
     * Posts a release's one Slack message, or updates it in place when it exists, and on
     * the last notice posts the outcome in its thread, once. The message's id is kept in
     * `slack_messages`, so a retried call updates rather than posts again.
     */
    async postReleaseNotice(input: NoticeInput): Promise<{ ts: string }> {
      const settings = deps.slack;
      if (!settings) return { ts: '' };
      const notice: ReleaseNotice = {
        ...input,
        uiUrl: temporalUiLink(deps.temporalUi.url, deps.temporalUi.namespace, input.releaseId),
      };
      // A version released again reuses its workflow id; each execution gets its own message.
      const key =
        input.releaseRun ??
        `${input.releaseId}#${Context.current().info.workflowExecution?.runId ?? 'none'}`;
      const { rows } = await deps.db.query<{
        channel: string;
        ts: string;
        outcome_ts: string | null;
      }>('SELECT channel, ts, outcome_ts FROM slack_messages WHERE release_run = $1', [key]);
      let message = rows[0];
      const body = releaseMessage(notice);
      if (message) {
        await slack(settings).chat.update({ channel: message.channel, ts: message.ts, ...body });
      } else {
        const posted = await slack(settings).chat.postMessage({ channel: input.channel, ...body });
        message = { channel: posted.channel ?? input.channel, ts: posted.ts!, outcome_ts: null };
        await deps.db.query(
          `INSERT INTO slack_messages (release_run, channel, ts) VALUES ($1, $2, $3)
           ON CONFLICT (release_run) DO NOTHING`,
          [key, message.channel, message.ts],
        );
      }

      if (input.final && !message.outcome_ts) {
        const reply = await slack(settings).chat.postMessage({
          channel: message.channel,
          thread_ts: message.ts,
          ...outcomeMessage({ ...notice, reason: input.final.reason }),
        });
        await deps.db.query(
          'UPDATE slack_messages SET outcome_ts = $2, updated_at = now() WHERE release_run = $1',
          [key, reply.ts],
        );
      }
      deps.logger.info(
        {
          ...activityLogFields(),
          model: input.model,
          version: input.version,
          stage: input.stage,
          ts: message.ts,
        },
        'slack notice sent',
      );
      return { ts: message.ts };
    },
  };
}
