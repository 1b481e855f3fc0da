import type { GateDecision } from '../lib/gate.js';
import { EMAIL_FEATURE_SCHEMA } from '../lib/corpus/email-row.js';
import { setAlias } from '../lib/registry/aliases.js';
import { writeAudit, type AuditEntry } from '../lib/registry/audit.js';
import { finishRun, startRun, type RunStatus } from '../lib/registry/runs.js';
import type { Lineage, ModelVersionRecord } from '../lib/registry/types.js';
import {
  findAliasedVersion,
  getVersion,
  recordGate,
  registerVersion,
} from '../lib/registry/versions.js';
import { activityLogFields, type ActivityDeps } from './deps.js';
import { mapFailures } from './failures.js';

const WORKFLOW_ACTOR = { actor: 'training-pipeline', channel: 'workflow' } as const;

/** A workflow transition to audit; its key makes a retried write a no-op. */
export interface TransitionAudit {
  key: string;
  action: string;
  model: string;
  version: number | null;
  details: Record<string, unknown>;
  /** Who the row names; the training pipeline when unset (older callers). */
  actor?: string;
}

/** The audit row of a workflow transition. */
export function auditEntryOf(input: TransitionAudit): AuditEntry {
  return {
    ...WORKFLOW_ACTOR,
    ...(input.actor ? { actor: input.actor } : {}),
    action: input.action,
    model: input.model,
    version: input.version,
    details: input.details,
    idempotencyKey: input.key,
  };
}

export function registryActivities(deps: ActivityDeps) {
  return {
    async recordRunStarted(input: {
      runId: string;
      model: string;
      kind: 'train' | 'reproduce';
      workflowId: string;
      spec: Record<string, unknown>;
    }): Promise<void> {
      await mapFailures(() =>
        startRun(deps.db, {
          id: input.runId,
          model: input.model,
          kind: input.kind,
          workflowId: input.workflowId,
          spec: input.spec,
        }),
      );
      deps.logger.info(
        { ...activityLogFields(), runId: input.runId, model: input.model },
        'run started',
      );
    },

    async recordRunFinished(input: {
      runId: string;
      status: Exclude<RunStatus, 'running'>;
      result: Record<string, unknown>;
      version: number | null;
    }): Promise<void> {
      await mapFailures(() => finishRun(deps.db, input.runId, input));
      deps.logger.info(
        {
          ...activityLogFields(),
          runId: input.runId,
          status: input.status,
          version: input.version,
        },
        'run finished',
      );
    },

    /** The version an alias points at (with its lineage), or null. */
    async findAliasedVersion(input: {
      model: string;
      alias: string;
    }): Promise<ModelVersionRecord | null> {
      return mapFailures(() => findAliasedVersion(deps.db, input.model, input.alias));
    },

    async getModelVersion(input: { model: string; version: number }): Promise<ModelVersionRecord> {
      return mapFailures(() => getVersion(deps.db, input.model, input.version));
    },

    /**
     * Registers the trained model. The key comes from the workflow, so a retried or
     * repeated call returns the version the first call got.
     */
    async registerModelVersion(input: {
      model: string;
      owner: string;
      artifactUri: string;
      artifactDigest: string;
      snapshotDigest: string;
      evaluation: Record<string, unknown>;
      lineage: Lineage;
      idempotencyKey: string;
    }): Promise<{ version: number; created: boolean }> {
      const result = await mapFailures(() =>
        registerVersion(
          deps.db,
          { ...input, featureSchema: { ...EMAIL_FEATURE_SCHEMA } },
          WORKFLOW_ACTOR,
        ),
      );
      deps.logger.info(
        {
          ...activityLogFields(),
          model: input.model,
          version: result.version,
          created: result.created,
        },
        'version registered',
      );
      return result;
    },

    /** Stores the gate's verdict: rejected with reasons, or approved for staging. */
    async recordGateDecision(input: {
      model: string;
      version: number;
      decision: GateDecision;
      rollbackVersion: number | null;
    }): Promise<void> {
      await mapFailures(() =>
        recordGate(
          deps.db,
          input.model,
          input.version,
          { ...input.decision },
          input.rollbackVersion,
          WORKFLOW_ACTOR,
        ),
      );
      deps.logger.info(
        {
          ...activityLogFields(),
          model: input.model,
          version: input.version,
          passed: input.decision.passed,
        },
        'gate decided',
      );
    },

    /** Points each alias at the version; repeating it changes nothing. */
    async setAliases(input: {
      model: string;
      version: number;
      aliases: string[];
      reason: string;
    }): Promise<void> {
      for (const alias of input.aliases) {
        await mapFailures(() =>
          setAlias(
            deps.db,
            { model: input.model, alias, version: input.version },
            { ...WORKFLOW_ACTOR, reason: input.reason },
          ),
        );
      }
    },

    /** One audit row for a workflow transition, written once however often it is retried. */
    async auditTransition(input: TransitionAudit): Promise<void> {
      await mapFailures(() => writeAudit(deps.db, auditEntryOf(input)));
    },
  };
}
