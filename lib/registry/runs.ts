import type { Queryable } from '../db/db.js';
import { NotFoundError } from '../errors.js';

export type RunStatus = 'running' | 'succeeded' | 'rejected' | 'failed';

export interface RunRecord {
  id: string;
  model: string;
  kind: 'train' | 'reproduce';
  workflowId: string;
  status: RunStatus;
  spec: Record<string, unknown>;
  result: Record<string, unknown> | null;
  version: number | null;
  startedAt: string;
  finishedAt: string | null;
}

/** Records that a run started; repeating it (an activity retry) changes nothing. */
export async function startRun(
  db: Queryable,
  run: Pick<RunRecord, 'id' | 'model' | 'kind' | 'workflowId' | 'spec'>,
): Promise<void> {
  await db.query(
    `INSERT INTO runs (id, model, kind, workflow_id, status, spec)
     VALUES ($1, $2, $3, $4, 'running', $5::jsonb)
     ON CONFLICT (id) DO NOTHING`,
    [run.id, run.model, run.kind, run.workflowId, JSON.stringify(run.spec)],
  );
}

/** Records how a run ended; the last call wins, so a retry writes the same values again. */
export async function finishRun(
  db: Queryable,
  id: string,
  outcome: {
    status: Exclude<RunStatus, 'running'>;
    result: Record<string, unknown>;
    version: number | null;
  },
): Promise<void> {
  await db.query(
    `UPDATE runs SET status = $2, result = $3::jsonb, version = $4, finished_at = now() WHERE id = $1`,
    [id, outcome.status, JSON.stringify(outcome.result), outcome.version],
  );
}

export async function getRun(db: Queryable, id: string): Promise<RunRecord> {
  const { rows } = await db.query<{
    id: string;
    model: string;
    kind: 'train' | 'reproduce';
    workflow_id: string;
    status: RunStatus;
    spec: Record<string, unknown>;
    result: Record<string, unknown> | null;
    version: number | null;
    started_at: Date;
    finished_at: Date | null;
  }>('SELECT * FROM runs WHERE id = $1', [id]);
  const row = rows[0];
  if (!row) throw new NotFoundError(`no run with id ${id}`);
  return {
    id: row.id,
    model: row.model,
    kind: row.kind,
    workflowId: row.workflow_id,
    status: row.status,
    spec: row.spec,
    result: row.result,
    version: row.version,
    startedAt: new Date(row.started_at).toISOString(),
    finishedAt: row.finished_at ? new Date(row.finished_at).toISOString() : null,
  };
}
