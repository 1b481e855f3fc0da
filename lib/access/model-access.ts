import { z } from 'zod';
import type { Queryable } from '../db/db.js';
import type { ApprovalPolicy } from '../release/approvers.js';
import { OPEN_POLICY } from '../release/approvers.js';
import { ApproverEntrySchema } from './scopes.js';

/** Who may approve a model's releases, set by an admin; plans cannot widen it. */
export const ModelAccessInputSchema = z
  .object({
    approvers: z.array(ApproverEntrySchema).min(1, 'must name at least one approver'),
    starterMayApprove: z.boolean().default(true),
    /** Slack channel id (C...) or name (#ml-releases) for approval requests; null for none. */
    slackChannel: z.string().min(1).nullable().default(null),
  })
  .strict();
export type ModelAccessInput = z.output<typeof ModelAccessInputSchema>;

export async function setModelAccess(
  db: Queryable,
  model: string,
  input: ModelAccessInput,
  updatedBy: string,
): Promise<void> {
  await db.query(
    `INSERT INTO model_access (model, approvers, starter_may_approve, slack_channel, updated_by)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (model) DO UPDATE SET approvers = EXCLUDED.approvers,
       starter_may_approve = EXCLUDED.starter_may_approve, slack_channel = EXCLUDED.slack_channel,
       updated_by = EXCLUDED.updated_by, updated_at = now()`,
    [model, input.approvers, input.starterMayApprove, input.slackChannel, updatedBy],
  );
}

/**
 * A model's approval policy. With no row, anyone a plan's gate names may approve and
 * notices go to `defaultSlackChannel` (the deployment's channel, if any).
 */
export async function getApprovalPolicy(
  db: Queryable,
  model: string,
  defaultSlackChannel: string | null,
): Promise<ApprovalPolicy> {
  const { rows } = await db.query<{
    approvers: string[];
    starter_may_approve: boolean;
    slack_channel: string | null;
  }>('SELECT approvers, starter_may_approve, slack_channel FROM model_access WHERE model = $1', [
    model,
  ]);
  const row = rows[0];
  if (!row) return { ...OPEN_POLICY, slackChannel: defaultSlackChannel };
  return {
    modelApprovers: row.approvers,
    starterMayApprove: row.starter_may_approve,
    slackChannel: row.slack_channel ?? defaultSlackChannel,
  };
}
