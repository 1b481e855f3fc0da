import type { Queryable } from '../db/db.js';
import type { Route } from './route.js';

/**
 * Writes a route as the desired state. Only a higher generation replaces the stored one,
 * so retries and late writes are no-ops. Returns the generation now stored.
 */
export async function writeRoute(db: Queryable, route: Route, updatedBy: string): Promise<number> {
  const { rows } = await db.query<{ generation: number }>(
    `INSERT INTO routes (model, generation, weights, shadow, warm, sticky, updated_by)
     VALUES ($1, $2, $3::jsonb, $4::jsonb, $5::jsonb, $6, $7)
     ON CONFLICT (model) DO UPDATE SET generation = EXCLUDED.generation, weights = EXCLUDED.weights,
       shadow = EXCLUDED.shadow, warm = EXCLUDED.warm, sticky = EXCLUDED.sticky,
       updated_by = EXCLUDED.updated_by, updated_at = now()
       WHERE routes.generation < EXCLUDED.generation
     RETURNING generation`,
    [
      route.model,
      route.generation,
      JSON.stringify(route.weights),
      JSON.stringify(route.shadow),
      JSON.stringify(route.warm),
      route.sticky,
      updatedBy,
    ],
  );
  if (rows[0]) return rows[0].generation;
  const current = await readRoute(db, route.model);
  return current?.generation ?? 0;
}

interface RouteRow {
  model: string;
  generation: number;
  weights: Record<string, number>;
  shadow: { version: number; percent: number } | null;
  warm: number[];
  sticky: boolean;
}

const toRoute = (row: RouteRow): Route => ({
  model: row.model,
  generation: Number(row.generation),
  weights: row.weights,
  shadow: row.shadow,
  warm: row.warm,
  sticky: row.sticky,
});

export async function readRoute(db: Queryable, model: string): Promise<Route | null> {
  const { rows } = await db.query<RouteRow>('SELECT * FROM routes WHERE model = $1', [model]);
  return rows[0] ? toRoute(rows[0]) : null;
}

export async function readAllRoutes(db: Queryable): Promise<Route[]> {
  const { rows } = await db.query<RouteRow>('SELECT * FROM routes ORDER BY model');
  return rows.map(toRoute);
}

/** A version's load state on one replica. */
export interface VersionState {
  ready: boolean;
  error: string | null;
}

export async function reportReplica(
  db: Queryable,
  report: {
    replicaId: string;
    model: string;
    generation: number;
    versions: Record<string, VersionState>;
  },
): Promise<void> {
  await db.query(
    `INSERT INTO gateway_replicas (replica_id, model, generation, versions, seen_at)
     VALUES ($1, $2, $3, $4::jsonb, now())
     ON CONFLICT (replica_id, model) DO UPDATE
       SET generation = EXCLUDED.generation, versions = EXCLUDED.versions, seen_at = now()`,
    [report.replicaId, report.model, report.generation, JSON.stringify(report.versions)],
  );
}

export interface ReplicaState {
  replicaId: string;
  generation: number;
  versions: Record<string, VersionState>;
  seenSecondsAgo: number;
}

/** Replicas that reported for `model` within `freshSeconds`. */
export async function liveReplicas(
  db: Queryable,
  model: string,
  freshSeconds = 5,
): Promise<ReplicaState[]> {
  const { rows } = await db.query<{
    replica_id: string;
    generation: number;
    versions: Record<string, VersionState>;
    age: number;
  }>(
    `SELECT replica_id, generation, versions, extract(epoch FROM now() - seen_at)::float8 AS age
       FROM gateway_replicas WHERE model = $1 AND seen_at > now() - make_interval(secs => $2)`,
    [model, freshSeconds],
  );
  return rows.map((row) => ({
    replicaId: row.replica_id,
    generation: Number(row.generation),
    versions: row.versions,
    seenSecondsAgo: row.age,
  }));
}
