import type { Queryable } from '../db/db.js';
import type { Actor } from './types.js';

export interface AuditEntry extends Actor {
  action: string;
  model?: string | null;
  version?: number | null;
  details?: Record<string, unknown>;
  /** Given when the same event may be written twice; the second write is ignored. */
  idempotencyKey?: string;
}

/** Appends one audit row inside the caller's transaction. */
export async function writeAudit(tx: Queryable, entry: AuditEntry): Promise<void> {
  await tx.query(
    `INSERT INTO audit_log (actor, channel, action, model, version, details, idempotency_key)
     VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)
     ON CONFLICT (idempotency_key) DO NOTHING`,
    [
      entry.actor,
      entry.channel,
      entry.action,
      entry.model ?? null,
      entry.version ?? null,
      JSON.stringify(entry.details ?? {}),
      entry.idempotencyKey ?? null,
    ],
  );
}

export interface AuditRow {
  id: number;
  at: string;
  actor: string;
  channel: string;
  action: string;
  model: string | null;
  version: number | null;
  details: Record<string, unknown>;
}

/** A model's audit rows, newest first; `null` lists the rows about no model (access, Slack). */
export async function listAudit(
  db: Queryable,
  model: string | null,
  limit = 200,
): Promise<AuditRow[]> {
  const { rows } = await db.query<AuditRow>(
    `SELECT id, at, actor, channel, action, model, version, details
       FROM audit_log WHERE ${model === null ? 'model IS NULL AND $1::text IS NULL' : 'model = $1'}
      ORDER BY id DESC LIMIT $2`,
    [model, limit],
  );
  return rows.map((row) => ({ ...row, at: new Date(row.at).toISOString() }));
}
