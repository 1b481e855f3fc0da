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
