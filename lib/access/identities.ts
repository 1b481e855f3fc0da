import { z } from 'zod';
import type { Queryable } from '../db/db.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { IdentityNameSchema } from './scopes.js';

export const SlackUserIdSchema = z
  .string()
  .regex(/^[UW][A-Z0-9]{2,}$/, 'must be a Slack member id like U012AB3CD');

/** A person or a service as the project knows them, and as Slack knows them. */
export const IdentityInputSchema = z
  .object({
    name: IdentityNameSchema,
    displayName: z.string().max(200).default(''),
    /** Slack member id, like U012AB3CD; one identity per Slack user. */
    slackUserId: SlackUserIdSchema.nullable().default(null),
    groups: z.array(IdentityNameSchema).default([]),
    disabled: z.boolean().default(false),
  })
  .strict();
export type IdentityInput = z.input<typeof IdentityInputSchema>;
export type Identity = z.output<typeof IdentityInputSchema>;

/** Creates or replaces an identity. A Slack user id already mapped to another identity is refused. */
export async function upsertIdentity(db: Queryable, input: Identity): Promise<Identity> {
  if (input.slackUserId) {
    const { rows } = await db.query<{ name: string }>(
      'SELECT name FROM identities WHERE slack_user_id = $1 AND name <> $2',
      [input.slackUserId, input.name],
    );
    if (rows[0])
      throw new ConflictError(
        `slackUserId: Slack user ${input.slackUserId} already acts as identity ${rows[0].name}; one Slack user is one identity (change ${rows[0].name} first)`,
      );
  }
  await db.query(
    `INSERT INTO identities (name, display_name, slack_user_id, groups, disabled)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (name) DO UPDATE SET display_name = EXCLUDED.display_name,
       slack_user_id = EXCLUDED.slack_user_id, groups = EXCLUDED.groups,
       disabled = EXCLUDED.disabled, updated_at = now()`,
    [input.name, input.displayName, input.slackUserId, input.groups, input.disabled],
  );
  return input;
}

interface IdentityRow {
  name: string;
  display_name: string;
  slack_user_id: string | null;
  groups: string[];
  disabled: boolean;
}

const toIdentity = (row: IdentityRow): Identity => ({
  name: row.name,
  displayName: row.display_name,
  slackUserId: row.slack_user_id,
  groups: row.groups,
  disabled: row.disabled,
});

export async function listIdentities(db: Queryable): Promise<Identity[]> {
  const { rows } = await db.query<IdentityRow>(
    'SELECT name, display_name, slack_user_id, groups, disabled FROM identities ORDER BY name',
  );
  return rows.map(toIdentity);
}

/** The identity a Slack user maps to (disabled or not), or null. */
export async function identityForSlackUser(
  db: Queryable,
  slackUserId: string,
): Promise<Identity | null> {
  const { rows } = await db.query<IdentityRow>(
    `SELECT name, display_name, slack_user_id, groups, disabled
       FROM identities WHERE slack_user_id = $1`,
    [slackUserId],
  );
  return rows[0] ? toIdentity(rows[0]) : null;
}

export async function findIdentity(db: Queryable, name: string): Promise<Identity | null> {
  const { rows } = await db.query<IdentityRow>(
    'SELECT name, display_name, slack_user_id, groups, disabled FROM identities WHERE name = $1',
    [name],
  );
  return rows[0] ? toIdentity(rows[0]) : null;
}

export async function getIdentity(db: Queryable, name: string): Promise<Identity> {
  const { rows } = await db.query<IdentityRow>(
    'SELECT name, display_name, slack_user_id, groups, disabled FROM identities WHERE name = $1',
    [name],
  );
  if (!rows[0])
    throw new NotFoundError(
      `identity: there is no identity ${name}; \`mlops identities ls\` lists them`,
    );
  return toIdentity(rows[0]);
}
