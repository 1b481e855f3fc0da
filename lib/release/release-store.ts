import type { Queryable } from '../db/db.js';

/** One release as the API lists it; the live details are in its workflow's status Query. */
export interface ReleaseRecord {
  releaseId: string;
  model: string;
  version: number;
  stableVersion: number | null;
  stage: string;
  outcome: string;
  startedAt: string;
  updatedAt: string;
}

/** What a release's workflow writes at each stage: the listed fields, its plan and summary. */
export interface ReleaseRow extends Omit<ReleaseRecord, 'startedAt' | 'updatedAt'> {
  plan: Record<string, unknown>;
  summary: Record<string, unknown>;
}

/** Writes a release's row, or brings it up to date (the plan stays as first written). */
export async function upsertRelease(db: Queryable, row: ReleaseRow): Promise<void> {
  await db.query(
    `INSERT INTO releases (id, model, version, stable_version, stage, outcome, plan, summary)
     VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb)
     ON CONFLICT (id) DO UPDATE SET stage = EXCLUDED.stage, outcome = EXCLUDED.outcome,
       summary = EXCLUDED.summary, stable_version = EXCLUDED.stable_version, updated_at = now()`,
    [
      row.releaseId,
      row.model,
      row.version,
      row.stableVersion,
      row.stage,
      row.outcome,
      JSON.stringify(row.plan),
      JSON.stringify(row.summary),
    ],
  );
}

/** A model's releases, newest first. */
export async function listReleases(
  db: Queryable,
  model: string,
  limit = 100,
): Promise<ReleaseRecord[]> {
  const { rows } = await db.query<{
    id: string;
    model: string;
    version: number;
    stable_version: number | null;
    stage: string;
    outcome: string;
    started_at: Date;
    updated_at: Date;
  }>(
    `SELECT id, model, version, stable_version, stage, outcome, started_at, updated_at
       FROM releases WHERE model = $1 ORDER BY started_at DESC, id LIMIT $2`,
    [model, limit],
  );
  return rows.map((row) => ({
    releaseId: row.id,
    model: row.model,
    version: row.version,
    stableVersion: row.stable_version,
    stage: row.stage,
    outcome: row.outcome,
    startedAt: new Date(row.started_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  }));
}
