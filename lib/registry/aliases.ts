import type { Db, Queryable } from '../db/db.js';
import { ConflictError } from '../errors.js';
import { writeAudit } from './audit.js';
import { aliasRefusal, approvalForAlias } from './transitions.js';
import { lockVersion } from './versions.js';
import type { Actor } from './types.js';

/**
 * Points `alias` at `version`, recording who moved it, from where and why. Moving
 * `production` records the version it leaves as the new one's rollback target and
 * approves the new one for production. Idempotent: setting the current target again
 * changes nothing and writes nothing.
 */
export async function setAlias(
  db: Db,
  input: { model: string; alias: string; version: number },
  actor: Actor & { reason: string },
): Promise<{ previous: number | null; changed: boolean }> {
  return db.transaction(async (tx) => {
    const target = await lockVersion(tx, input.model, input.version);
    const refusal = aliasRefusal(input.alias, target.status);
    if (refusal) throw new ConflictError(`${input.model} v${input.version}: ${refusal}`);

    const current = await tx.query<{ version: number }>(
      'SELECT version FROM aliases WHERE model = $1 AND alias = $2 FOR UPDATE',
      [input.model, input.alias],
    );
    const previous = current.rows[0]?.version ?? null;
    if (previous === input.version) return { previous, changed: false };

    await tx.query(
      `INSERT INTO aliases (model, alias, version, updated_by, reason)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (model, alias) DO UPDATE
         SET version = EXCLUDED.version, updated_by = EXCLUDED.updated_by,
             reason = EXCLUDED.reason, updated_at = now()`,
      [input.model, input.alias, input.version, actor.actor, actor.reason],
    );
    await tx.query(
      `INSERT INTO alias_history (model, alias, from_version, to_version, actor, reason)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [input.model, input.alias, previous, input.version, actor.actor, actor.reason],
    );
    await tx.query(
      `UPDATE model_versions
          SET approved_for = $3,
              rollback_version = CASE WHEN $4::text = 'production' AND $5::int IS NOT NULL
                                      THEN $5::int ELSE rollback_version END,
              updated_at = now()
        WHERE model = $1 AND version = $2`,
      [
        input.model,
        input.version,
        approvalForAlias(input.alias, target.approved_for),
        input.alias,
        previous,
      ],
    );
    await writeAudit(tx, {
      actor: actor.actor,
      channel: actor.channel,
      action: 'alias.moved',
      model: input.model,
      version: input.version,
      details: { alias: input.alias, from: previous, to: input.version, reason: actor.reason },
    });
    return { previous, changed: true };
  });
}

export interface AliasHistoryRow {
  alias: string;
  fromVersion: number | null;
  toVersion: number | null;
  actor: string;
  reason: string;
  at: string;
}

/** Every move of the model's aliases, newest first. */
export async function aliasHistory(db: Queryable, model: string): Promise<AliasHistoryRow[]> {
  const { rows } = await db.query<{
    alias: string;
    from_version: number | null;
    to_version: number | null;
    actor: string;
    reason: string;
    at: Date;
  }>(
    `SELECT alias, from_version, to_version, actor, reason, at
       FROM alias_history WHERE model = $1 ORDER BY id DESC`,
    [model],
  );
  return rows.map((row) => ({
    alias: row.alias,
    fromVersion: row.from_version,
    toVersion: row.to_version,
    actor: row.actor,
    reason: row.reason,
    at: new Date(row.at).toISOString(),
  }));
}
