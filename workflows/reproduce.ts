import {
  ApplicationFailure,
  proxyActivities,
  setCurrentDetails,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { DATA_ACTIVITY, TRAINING_ACTIVITY } from '../lib/temporal/activity-options.js';
import { LogisticRegressionParamsSchema } from '../lib/model/params.js';
import type { TrainerSpec } from '../lib/spec/training-spec.js';
import { MlopsModel, MlopsOutcome, MlopsStage, MlopsVersion } from '../lib/temporal/conventions.js';

export interface ReproduceInput {
  runId: string;
  model: string;
  version: number;
  requestedBy: string;
}

export interface ReproduceResult {
  runId: string;
  model: string;
  version: number;
  matches: boolean;
  expectedDigest: string;
  actualDigest: string;
  /** False when the worker's dependency lock differs from the one recorded at training. */
  lockDigestMatches: boolean;
  recordedLockDigest: string;
  currentLockDigest: string;
}

const data = proxyActivities<Activities>(DATA_ACTIVITY);
const training = proxyActivities<Activities>(TRAINING_ACTIVITY);

/**
 * Trains a registered version again from its lineage alone (recorded snapshot,
 * trainer, parameters and seed) and reports whether the artifact digest matches.
 * Registers nothing.
 */
export async function reproduceWorkflow(input: ReproduceInput): Promise<ReproduceResult> {
  upsertSearchAttributes([
    { key: MlopsModel, value: input.model },
    { key: MlopsVersion, value: String(input.version) },
    { key: MlopsStage, value: 'reproduce' },
    { key: MlopsOutcome, value: 'running' },
  ]);
  const { workflowId } = workflowInfo();
  const record = await data.getModelVersion({ model: input.model, version: input.version });
  await data.recordRunStarted({
    runId: input.runId,
    model: input.model,
    kind: 'reproduce',
    workflowId,
    spec: { ...input },
  });

  setCurrentDetails(
    `**training** ${input.model} v${input.version} again from snapshot ${record.lineage.snapshotDigest}, seed ${record.lineage.seed}`,
  );
  const trained = await training.trainModel({
    snapshotDigest: record.lineage.snapshotDigest,
    trainer: trainerFromLineage(record.lineage.trainer, record.lineage.parameters),
    seed: record.lineage.seed,
  });

  const result: ReproduceResult = {
    runId: input.runId,
    model: input.model,
    version: input.version,
    matches: trained.artifactDigest === record.artifactDigest,
    expectedDigest: record.artifactDigest,
    actualDigest: trained.artifactDigest,
    lockDigestMatches: trained.dependencyLockDigest === record.lineage.dependencyLockDigest,
    recordedLockDigest: record.lineage.dependencyLockDigest,
    currentLockDigest: trained.dependencyLockDigest,
  };
  const outcome = result.matches ? 'reproduced' : 'differs';
  upsertSearchAttributes([{ key: MlopsOutcome, value: outcome }]);
  setCurrentDetails(
    `**${outcome}**: expected ${result.expectedDigest}, got ${result.actualDigest}`,
  );
  await data.recordRunFinished({
    runId: input.runId,
    status: 'succeeded',
    result: { ...result },
    version: input.version,
  });
  return result;
}

function trainerFromLineage(trainer: string, parameters: Record<string, unknown>): TrainerSpec {
  if (trainer === 'builtin:logistic-regression') {
    return { kind: 'builtin', params: LogisticRegressionParamsSchema.parse(parameters) };
  }
  const { command, lockFile, timeoutSeconds, ...params } = parameters as {
    command?: string[];
    lockFile?: string;
    timeoutSeconds?: number;
  } & Record<string, unknown>;
  if (!Array.isArray(command) || typeof lockFile !== 'string') {
    throw ApplicationFailure.nonRetryable(
      `lineage of trainer ${trainer} lacks its command or lock file; it cannot be reproduced`,
      'NotReproducible',
    );
  }
  return { kind: 'command', command, lockFile, timeoutSeconds: timeoutSeconds ?? 3600, params };
}
