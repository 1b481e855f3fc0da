import { z } from 'zod';

export const APPROVAL_STAGES = ['none', 'staging', 'production-canary', 'production'] as const;
export type ApprovalStage = (typeof APPROVAL_STAGES)[number];

export const VERSION_STATUSES = ['registered', 'rejected', 'archived', 'deleted'] as const;
export type VersionStatus = (typeof VERSION_STATUSES)[number];

/** Where a version came from: enough to train it again and get the same bytes. */
export const LineageSchema = z.object({
  codeRevision: z.string().min(1),
  trainer: z.string().min(1),
  parameters: z.record(z.string(), z.unknown()),
  seed: z.number().int().nonnegative({ message: 'must be a known, non-negative integer seed' }),
  datasetDigest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  snapshotDigest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  dependencyLockDigest: z
    .string()
    .regex(/^sha256:[0-9a-f]{64}$/, 'must be the sha256 digest of the dependency lock file'),
  parentRunId: z.string().nullable(),
  runId: z.string().min(1),
  workflowId: z.string().min(1),
});
export type Lineage = z.infer<typeof LineageSchema>;

/** A model version as the registry returns it. */
export interface ModelVersionRecord {
  model: string;
  version: number;
  status: VersionStatus;
  approvedFor: ApprovalStage;
  artifactUri: string;
  artifactDigest: string;
  snapshotDigest: string;
  featureSchema: Record<string, unknown>;
  evaluation: Record<string, unknown>;
  gate: Record<string, unknown> | null;
  owner: string;
  rollbackVersion: number | null;
  lineage: Lineage;
  runId: string;
  aliases: string[];
  createdAt: string;
  updatedAt: string;
}

/** Who did something and through which door; every audit row carries it. */
export interface Actor {
  actor: string;
  channel: 'workflow' | 'cli' | 'api' | 'slack' | 'system';
}

/** Versions are stored as PostgreSQL `integer`. */
const MAX_VERSION = 2_147_483_647;
const VERSION_RULE = 'must be a positive whole version number, like 3 or "3"';
const REF_RULE = 'must be a version number or an alias name';

const VersionInteger = z
  .number()
  .int(VERSION_RULE)
  .positive(VERSION_RULE)
  .max(MAX_VERSION, `must be at most ${MAX_VERSION}`);

/**
 * A version number given as 3 or "3" (URLs and forms carry text). Only plain decimal
 * digits count: coercion would read true, "0x3", "1e0" or "3.0" as some version and
 * act on it.
 */
export const VersionNumberSchema = z.union(
  [
    VersionInteger,
    z
      .string()
      .regex(/^[1-9][0-9]*$/, VERSION_RULE)
      .transform(Number)
      .pipe(VersionInteger),
  ],
  { error: VERSION_RULE },
);

/** A version reference from a person: a number ("3" or 3) or an alias name. */
export const VersionRefSchema = z.union(
  [VersionNumberSchema, z.string().regex(/^[a-z][a-z0-9-]*$/, REF_RULE)],
  { error: REF_RULE },
);
