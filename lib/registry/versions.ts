import type { Db, Queryable } from '../db/db.js';
import { ConflictError, InvalidInputError, NotFoundError } from '../errors.js';
import { parseWith } from '../spec/parse.js';
import { writeAudit } from './audit.js';
import { approvalRefusal } from './transitions.js';
import {
  LineageSchema,
  type Actor,
  type ApprovalStage,
  type Lineage,
  type ModelVersionRecord,
  type VersionStatus,
} from './types.js';

export interface RegisterVersionInput {
  model: string;
  owner: string;
  artifactUri: string;
  artifactDigest: string;
  snapshotDigest: string;
  featureSchema: Record<string, unknown>;
  evaluation: Record<string, unknown>;
  lineage: Lineage;
  /** The same key always yields the same version: a retried registration is a no-op. */
  idempotencyKey: string;
}

/**
 * Registers a new version and returns its number. The number comes from a per-model
 * counter row updated in the same transaction, so concurrent registrations serialise on
 * that row and each gets its own number; the cost does not grow with the version count.
 * A repeated `idempotencyKey` returns the version it got the first time.
 */
export async function registerVersion(
  db: Db,
  input: RegisterVersionInput,
  actor: Actor,
): Promise<{ version: number; created: boolean }> {
  const lineage = parseWith(LineageSchema, input.lineage, 'lineage');
  const existing = await versionForKey(db, input.idempotencyKey);
  if (existing !== null) return { version: existing, created: false };

  return db
    .transaction(async (tx) => {
      await tx.query(
        `INSERT INTO models (name, owner) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`,
        [input.model, input.owner],
      );
      const allocated = await tx.query<{ last_version: number }>(
        `UPDATE models SET last_version = last_version + 1 WHERE name = $1 RETURNING last_version`,
        [input.model],
      );
      const number = allocated.rows[0]!.last_version;
      const inserted = await tx.query(
        `INSERT INTO model_versions (model, version, status, artifact_uri, artifact_digest,
         snapshot_digest, feature_schema, evaluation, owner, lineage, run_id, idempotency_key)
       VALUES ($1, $2, 'registered', $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9::jsonb, $10, $11)
       ON CONFLICT (idempotency_key) DO NOTHING
       RETURNING version`,
        [
          input.model,
          number,
          input.artifactUri,
          input.artifactDigest,
          input.snapshotDigest,
          JSON.stringify(input.featureSchema),
          JSON.stringify(input.evaluation),
          input.owner,
          JSON.stringify(lineage),
          lineage.runId,
          input.idempotencyKey,
        ],
      );
      // Another transaction registered this key while we waited for the counter row:
      // give the number back by rolling back, and answer with theirs below.
      if (inserted.rows.length === 0) throw new DuplicateKey();
      await writeAudit(tx, {
        ...actor,
        action: 'version.registered',
        model: input.model,
        version: number,
        details: { artifactDigest: input.artifactDigest, runId: lineage.runId },
      });
      return { version: number, created: true };
    })
    .catch(async (error: unknown) => {
      if (!(error instanceof DuplicateKey)) throw error;
      // The racing call created it; this one only learns the number.
      return { version: (await versionForKey(db, input.idempotencyKey))!, created: false };
    });
}

class DuplicateKey extends Error {}

async function versionForKey(db: Queryable, key: string): Promise<number | null> {
  const { rows } = await db.query<{ version: number }>(
    'SELECT version FROM model_versions WHERE idempotency_key = $1',
    [key],
  );
  return rows[0]?.version ?? null;
}

interface VersionRow {
  model: string;
  version: number;
  status: VersionStatus;
  approved_for: ApprovalStage;
  artifact_uri: string;
  artifact_digest: string;
  snapshot_digest: string;
  feature_schema: Record<string, unknown>;
  evaluation: Record<string, unknown>;
  gate: Record<string, unknown> | null;
  owner: string;
  rollback_version: number | null;
  lineage: Lineage;
  run_id: string;
  aliases: string[] | null;
  created_at: Date;
  updated_at: Date;
}

const SELECT_VERSION = `
  SELECT v.*, (SELECT array_agg(a.alias ORDER BY a.alias) FROM aliases a
                WHERE a.model = v.model AND a.version = v.version) AS aliases
    FROM model_versions v`;

function toRecord(row: VersionRow): ModelVersionRecord {
  return {
    model: row.model,
    version: row.version,
    status: row.status,
    approvedFor: row.approved_for,
    artifactUri: row.artifact_uri,
    artifactDigest: row.artifact_digest,
    snapshotDigest: row.snapshot_digest,
    featureSchema: row.feature_schema,
    evaluation: row.evaluation,
    gate: row.gate,
    owner: row.owner,
    rollbackVersion: row.rollback_version,
    lineage: row.lineage,
    runId: row.run_id,
    aliases: row.aliases ?? [],
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}

/** One version by number; deleted versions are not found. */
export async function getVersion(
  db: Queryable,
  model: string,
  version: number,
): Promise<ModelVersionRecord> {
  const { rows } = await db.query<VersionRow>(
    `${SELECT_VERSION} WHERE v.model = $1 AND v.version = $2 AND v.status <> 'deleted'`,
    [model, version],
  );
  if (!rows[0]) throw new NotFoundError(`model ${model} has no version ${version}`);
  return toRecord(rows[0]);
}

/**
 * A version by number or alias. An alias never resolves to a deleted or archived
 * version: those cannot be aliased in the first place, and the join re-checks it.
 */
export async function resolveVersion(
  db: Queryable,
  model: string,
  ref: number | string,
): Promise<ModelVersionRecord> {
  if (typeof ref === 'number') return getVersion(db, model, ref);
  const { rows } = await db.query<VersionRow>(
    `${SELECT_VERSION} JOIN aliases al ON al.model = v.model AND al.version = v.version
      WHERE v.model = $1 AND al.alias = $2 AND v.status = 'registered'`,
    [model, ref],
  );
  if (!rows[0]) throw new NotFoundError(`model ${model} has no alias ${ref}`);
  return toRecord(rows[0]);
}

/** The version an alias points at, or null when the alias is unset. */
export async function findAliasedVersion(
  db: Queryable,
  model: string,
  alias: string,
): Promise<ModelVersionRecord | null> {
  return resolveVersion(db, model, alias).catch((error: unknown) => {
    if (error instanceof NotFoundError) return null;
    throw error;
  });
}

export async function listVersions(
  db: Queryable,
  model: string,
  limit = 100,
): Promise<ModelVersionRecord[]> {
  const { rows } = await db.query<VersionRow>(
    `${SELECT_VERSION} WHERE v.model = $1 AND v.status <> 'deleted' ORDER BY v.version DESC LIMIT $2`,
    [model, limit],
  );
  return rows.map(toRecord);
}

export interface ModelSummary {
  name: string;
  owner: string;
  versions: number;
  latestVersion: number;
  aliases: Record<string, number>;
}

export async function listModels(db: Queryable): Promise<ModelSummary[]> {
  const { rows } = await db.query<{
    name: string;
    owner: string;
    versions: number;
    last_version: number;
    aliases: Record<string, number> | null;
  }>(
    `SELECT m.name, m.owner, m.last_version,
            (SELECT count(*)::int FROM model_versions v WHERE v.model = m.name AND v.status <> 'deleted') AS versions,
            (SELECT jsonb_object_agg(a.alias, a.version) FROM aliases a WHERE a.model = m.name) AS aliases
       FROM models m ORDER BY m.name`,
  );
  return rows.map((row) => ({
    name: row.name,
    owner: row.owner,
    versions: row.versions,
    latestVersion: row.last_version,
    aliases: row.aliases ?? {},
  }));
}

/**
 * Records the quality gate's verdict. A failed gate marks the version rejected with its
 * reasons; it stays in the registry. A passed gate approves it for staging.
 */
export async function recordGate(
  db: Db,
  model: string,
  version: number,
  gate: { passed: boolean; reasons: string[] } & Record<string, unknown>,
  rollbackVersion: number | null,
  actor: Actor,
): Promise<void> {
  await db.transaction(async (tx) => {
    const current = await lockVersion(tx, model, version);
    const status: VersionStatus = gate.passed ? current.status : 'rejected';
    const approvedFor: ApprovalStage =
      gate.passed && current.approved_for === 'none' ? 'staging' : current.approved_for;
    await tx.query(
      `UPDATE model_versions SET gate = $3::jsonb, status = $4, approved_for = $5,
              rollback_version = $6, updated_at = now()
        WHERE model = $1 AND version = $2`,
      [
        model,
        version,
        JSON.stringify(gate),
        status,
        gate.passed ? approvedFor : 'none',
        rollbackVersion,
      ],
    );
    await writeAudit(tx, {
      ...actor,
      action: gate.passed ? 'version.gate_passed' : 'version.rejected',
      model,
      version,
      details: { reasons: gate.reasons },
      idempotencyKey: `gate/${model}/${version}`,
    });
  });
}

/** Moves a version's approval; refuses transitions the rules forbid (a rejected version to production). */
export async function setApproval(
  db: Db,
  model: string,
  version: number,
  to: ApprovalStage,
  actor: Actor & { reason: string },
): Promise<void> {
  await db.transaction(async (tx) => {
    const current = await lockVersion(tx, model, version);
    const refusal = approvalRefusal(current.status, to);
    if (refusal) throw new ConflictError(`${model} v${version}: ${refusal}`);
    await tx.query(
      `UPDATE model_versions SET approved_for = $3, updated_at = now() WHERE model = $1 AND version = $2`,
      [model, version, to],
    );
    await writeAudit(tx, {
      actor: actor.actor,
      channel: actor.channel,
      action: 'version.approval_changed',
      model,
      version,
      details: { from: current.approved_for, to, reason: actor.reason },
    });
  });
}

/**
 * Deletes (tombstones) or archives a version. Refused while any alias points at it, so
 * resolving an alias never yields a version that is gone. The number is never reused.
 */
export async function retireVersion(
  db: Db,
  model: string,
  version: number,
  to: 'deleted' | 'archived',
  actor: Actor & { reason: string },
): Promise<void> {
  if (!Number.isInteger(version) || version <= 0) {
    throw new InvalidInputError(
      `version: must be a positive integer (got ${JSON.stringify(version)})`,
    );
  }
  await db.transaction(async (tx) => {
    await lockVersion(tx, model, version);
    const { rows } = await tx.query<{ alias: string }>(
      'SELECT alias FROM aliases WHERE model = $1 AND version = $2 ORDER BY alias FOR UPDATE',
      [model, version],
    );
    if (rows.length > 0) {
      const names = rows.map((row) => row.alias).join(', ');
      throw new ConflictError(
        `${model} v${version} cannot be ${to}: alias ${names} points at it; move the alias first`,
      );
    }
    await tx.query(
      `UPDATE model_versions SET status = $3, approved_for = 'none', updated_at = now()
        WHERE model = $1 AND version = $2`,
      [model, version, to],
    );
    await writeAudit(tx, {
      actor: actor.actor,
      channel: actor.channel,
      action: `version.${to}`,
      model,
      version,
      details: { reason: actor.reason },
    });
  });
}

/** Locks a version row for the rest of the transaction; deleted versions are not found. */
export async function lockVersion(
  tx: Queryable,
  model: string,
  version: number,
): Promise<{ status: VersionStatus; approved_for: ApprovalStage }> {
  const { rows } = await tx.query<{ status: VersionStatus; approved_for: ApprovalStage }>(
    `SELECT status, approved_for FROM model_versions
      WHERE model = $1 AND version = $2 AND status <> 'deleted' FOR UPDATE`,
    [model, version],
  );
  if (!rows[0]) throw new NotFoundError(`model ${model} has no version ${version}`);
  return rows[0];
}
