import {
  ApplicationFailure,
  defineQuery,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import {
  DATA_ACTIVITY,
  DATASET_ACTIVITY,
  TRAINING_ACTIVITY,
} from '../lib/temporal/activity-options.js';
import type { SnapshotRef } from '../activities/catalog.js';
import type { TrainedModel } from '../activities/training.js';
import { decideGate, type GateDecision } from '../lib/gate.js';
import type { EvaluationReport } from '../lib/model/evaluate.js';
import { formatZodError } from '../lib/errors.js';
import { TrainingSpecSchema, type TrainingSpec } from '../lib/spec/training-spec.js';
import { MlopsModel, MlopsOutcome, MlopsStage, MlopsVersion } from '../lib/temporal/conventions.js';

export interface TrainingPipelineInput {
  runId: string;
  /** The spec as the CLI read it; validated again here because workflows outlive clients. */
  spec: unknown;
  requestedBy: string;
  parentRunId?: string | null;
}

export interface TrainingPipelineResult {
  runId: string;
  model: string;
  version: number;
  outcome: 'accepted' | 'rejected';
  gate: GateDecision;
  evaluation: EvaluationReport;
  baseline: { version: number; evaluation: EvaluationReport } | null;
  snapshot: SnapshotRef;
  artifactDigest: string;
}

export type PipelineStage =
  'validating' | 'snapshot' | 'training' | 'evaluating' | 'registering' | 'gating' | 'done';

export interface PipelineStatus {
  stage: PipelineStage;
  model: string | null;
  version: number | null;
  outcome: 'running' | 'accepted' | 'rejected' | 'failed';
}

export const pipelineStatusQuery = defineQuery<PipelineStatus>('status');

const data = proxyActivities<Activities>(DATA_ACTIVITY);
const datasets = proxyActivities<Activities>(DATASET_ACTIVITY);
const training = proxyActivities<Activities>(TRAINING_ACTIVITY);

/**
 * The training pipeline: snapshot the data, train, evaluate beside the current
 * production version on the same rows, register, then apply the spec's quality gate.
 * A version the gate rejects stays registered as rejected, with its reasons.
 */
export async function trainingPipelineWorkflow(
  input: TrainingPipelineInput,
): Promise<TrainingPipelineResult> {
  const status: PipelineStatus = {
    stage: 'validating',
    model: null,
    version: null,
    outcome: 'running',
  };
  setHandler(pipelineStatusQuery, () => status);
  const { workflowId } = workflowInfo();

  const spec = validateSpec(input.spec);
  status.model = spec.model;
  upsertSearchAttributes([
    { key: MlopsModel, value: spec.model },
    { key: MlopsOutcome, value: 'running' },
  ]);
  const moveTo = (stage: PipelineStage, details: string): void => {
    status.stage = stage;
    upsertSearchAttributes([{ key: MlopsStage, value: stage }]);
    setCurrentDetails(`**${stage}**: ${details}`);
    log.info('pipeline stage', { stage, model: spec.model, runId: input.runId });
  };

  await data.recordRunStarted({
    runId: input.runId,
    model: spec.model,
    kind: 'train',
    workflowId,
    spec: spec as unknown as Record<string, unknown>,
  });
  try {
    moveTo('snapshot', `importing ${spec.dataset.source} and cutting the date split`);
    const dataset = await datasets.importDataset({ source: spec.dataset.source });
    const snapshot = await datasets.createSnapshot({
      dataset: dataset.dataset,
      datasetDigest: dataset.digest,
      split: spec.split,
      maxRows: spec.dataset.maxRows,
    });

    moveTo(
      'training',
      `${snapshot.trainRows} rows up to ${snapshot.trainUntil}, seed ${spec.seed}`,
    );
    const trained = await training.trainModel({
      snapshotDigest: snapshot.digest,
      trainer: spec.trainer,
      seed: spec.seed,
    });

    moveTo('evaluating', `${snapshot.evalRows} rows from ${snapshot.evalFrom}`);
    const evaluation = await evaluate(trained, snapshot);
    const baseline = await evaluateBaseline(spec, snapshot);

    moveTo('registering', `artifact ${trained.artifactDigest}`);
    const { version } = await data.registerModelVersion({
      model: spec.model,
      owner: spec.owner,
      artifactUri: trained.artifactUri,
      artifactDigest: trained.artifactDigest,
      snapshotDigest: snapshot.digest,
      evaluation: {
        ...evaluation,
        baseline: baseline && { version: baseline.version, ...baseline.evaluation },
      },
      lineage: {
        codeRevision: trained.codeRevision,
        trainer: trained.trainer,
        parameters: trained.parameters,
        seed: spec.seed,
        datasetDigest: dataset.digest,
        snapshotDigest: snapshot.digest,
        dependencyLockDigest: trained.dependencyLockDigest,
        parentRunId: input.parentRunId ?? null,
        runId: input.runId,
        workflowId,
      },
      idempotencyKey: `${workflowId}/register`,
    });
    status.version = version;
    upsertSearchAttributes([{ key: MlopsVersion, value: String(version) }]);

    moveTo(
      'gating',
      `v${version} against ${spec.gate.compareTo}${baseline ? ` v${baseline.version}` : ' (none yet)'}`,
    );
    const gate = decideGate(
      spec.gate,
      evaluation,
      baseline && { version: baseline.version, report: baseline.evaluation },
    );
    await data.recordGateDecision({
      model: spec.model,
      version,
      decision: gate,
      rollbackVersion: baseline?.version ?? null,
    });
    if (gate.passed && spec.onPass.aliases.length > 0) {
      await data.setAliases({
        model: spec.model,
        version,
        aliases: spec.onPass.aliases,
        reason: `passed its gate in run ${input.runId}`,
      });
    }

    const outcome = gate.passed ? 'accepted' : 'rejected';
    const result: TrainingPipelineResult = {
      runId: input.runId,
      model: spec.model,
      version,
      outcome,
      gate,
      evaluation,
      baseline,
      snapshot,
      artifactDigest: trained.artifactDigest,
    };
    await data.recordRunFinished({
      runId: input.runId,
      status: gate.passed ? 'succeeded' : 'rejected',
      result: { ...result },
      version,
    });
    status.outcome = outcome;
    upsertSearchAttributes([{ key: MlopsOutcome, value: outcome }]);
    upsertMemo({
      summary: `${spec.model} v${version} ${outcome}: accuracy ${evaluation.accuracy.toFixed(4)}, f1 ${evaluation.f1.toFixed(4)}`,
    });
    moveTo(
      'done',
      gate.passed ? `v${version} accepted` : `v${version} rejected: ${gate.reasons.join('; ')}`,
    );
    return result;
  } catch (error) {
    status.outcome = 'failed';
    upsertSearchAttributes([{ key: MlopsOutcome, value: 'failed' }]);
    await data.recordRunFinished({
      runId: input.runId,
      status: 'failed',
      result: { error: String(error) },
      version: status.version,
    });
    throw error;
  }
}

/** Validation failures end the workflow at once: retrying a bad spec cannot fix it. */
function validateSpec(raw: unknown): TrainingSpec {
  const parsed = TrainingSpecSchema.safeParse(raw);
  if (!parsed.success) {
    throw ApplicationFailure.nonRetryable(
      `training spec is invalid: ${formatZodError(parsed.error, raw)}`,
      'InvalidSpec',
    );
  }
  return parsed.data;
}

async function evaluate(trained: TrainedModel, snapshot: SnapshotRef): Promise<EvaluationReport> {
  if (trained.trainerMetrics === null) {
    return datasets.evaluateModel({
      artifactDigest: trained.artifactDigest,
      snapshotDigest: snapshot.digest,
    });
  }
  // A command trainer's model is opaque to us; it reports its own metrics on the snapshot it was given.
  return {
    rows: snapshot.evalRows,
    accuracy: trained.trainerMetrics.accuracy ?? 0,
    precision: trained.trainerMetrics.precision ?? 0,
    recall: trained.trainerMetrics.recall ?? 0,
    f1: trained.trainerMetrics.f1 ?? 0,
    rocAuc: trained.trainerMetrics.rocAuc ?? 0,
    evaluatedBy: 'trainer',
    confusion: null,
    // We cannot run an opaque model, so its latency is not measured here.
    latencyMeanMs: 0,
    latencyP99Ms: 0,
    modelSizeBytes: trained.sizeBytes,
  };
}

/** The compared version (production by default) scored on the same snapshot, when we can score it. */
async function evaluateBaseline(
  spec: TrainingSpec,
  snapshot: SnapshotRef,
): Promise<{ version: number; evaluation: EvaluationReport } | null> {
  const current = await data.findAliasedVersion({ model: spec.model, alias: spec.gate.compareTo });
  if (!current || !current.lineage.trainer.startsWith('builtin:')) return null;
  const evaluation = await datasets.evaluateModel({
    artifactDigest: current.artifactDigest,
    snapshotDigest: snapshot.digest,
  });
  return { version: current.version, evaluation };
}
