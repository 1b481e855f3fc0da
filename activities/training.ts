import fs from 'node:fs';
import path from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { sha256Digest } from '../lib/artifacts/store.js';
import {
  decodeCheckpoint,
  encodeCheckpoint,
  encodeModel,
  trainLogisticRegression,
  type TrainingCheckpoint,
} from '../lib/model/logistic-regression.js';
import type { TrainerSpec } from '../lib/spec/training-spec.js';
import { runCommandTrainer, TrainerError } from '../lib/trainers/command-trainer.js';
import { activityLogFields, type ActivityDeps } from './deps.js';
import { FailureType, mapFailures } from './failures.js';
import { readSnapshot } from './reads.js';

/** What the training activity heartbeats: progress for people, a checkpoint for retries. */
export interface TrainingHeartbeat {
  fraction: number;
  epoch: number;
  epochs: number;
  /** Digest of the newest checkpoint artifact; a retried attempt resumes from it. */
  checkpointDigest: string | null;
}

export interface TrainedModel {
  artifactUri: string;
  artifactDigest: string;
  sizeBytes: number;
  /** `builtin:logistic-regression` or `command:<program>`. */
  trainer: string;
  parameters: Record<string, unknown>;
  /** Metrics the trainer reported itself (command trainers), else null. */
  trainerMetrics: Record<string, number> | null;
  dependencyLockDigest: string;
  codeRevision: string;
  resumedFromEpoch: number | null;
  trainingMs: number;
}

// Checkpoints are a few MB; writing one per epoch of a fast epoch would cost more than it saves.
const CHECKPOINT_EVERY_MS = 1500;

export function trainingActivities(deps: ActivityDeps) {
  return {
    /**
     * Trains a model on a snapshot's train rows with a fixed seed and stores it as an
     * artifact. Heartbeats progress; after a crash the next attempt resumes from the
     * last checkpoint and ends with the same bytes, so the artifact digest is the same.
     */
    async trainModel(input: {
      snapshotDigest: string;
      trainer: TrainerSpec;
      seed: number;
    }): Promise<TrainedModel> {
      return mapFailures(async () => {
        const started = Date.now();
        if (input.trainer.kind === 'command')
          return trainWithCommand(deps, { ...input, trainer: input.trainer }, started);

        const context = Context.current();
        const previous = context.info.heartbeatDetails as TrainingHeartbeat | undefined;
        const resumeFrom: TrainingCheckpoint | undefined = previous?.checkpointDigest
          ? decodeCheckpoint(await deps.store.get(previous.checkpointDigest))
          : undefined;
        const { train } = await readSnapshot(deps, input.snapshotDigest);
        const params = input.trainer.params;
        const progress: TrainingHeartbeat = {
          fraction: resumeFrom ? resumeFrom.epochsDone / params.epochs : 0,
          epoch: resumeFrom?.epochsDone ?? 0,
          epochs: params.epochs,
          checkpointDigest: previous?.checkpointDigest ?? null,
        };
        let lastCheckpointAt = Date.now();
        const log = activityLogFields();
        deps.logger.info(
          { ...log, rows: train.length, resumedFromEpoch: resumeFrom?.epochsDone ?? null },
          'training started',
        );

        const model = await trainLogisticRegression(
          train.map((row) => ({ features: row, spam: row.label === 'spam' })),
          params,
          input.seed,
          {
            resumeFrom,
            onProgress: async ({ epoch, fraction }) => {
              context.heartbeat({ ...progress, epoch, fraction });
              await yieldToEventLoop();
              if (context.cancellationSignal.aborted) throw context.cancellationSignal.reason;
            },
            onEpoch: async (checkpoint) => {
              const last = checkpoint.epochsDone === params.epochs;
              if (last || Date.now() - lastCheckpointAt < CHECKPOINT_EVERY_MS) return;
              const saved = await deps.store.put(encodeCheckpoint(checkpoint));
              progress.checkpointDigest = saved.digest;
              progress.epoch = checkpoint.epochsDone;
              lastCheckpointAt = Date.now();
              context.heartbeat({ ...progress, fraction: checkpoint.epochsDone / params.epochs });
            },
          },
        );

        const artifact = await deps.store.put(encodeModel(model));
        deps.logger.info(
          { ...log, digest: artifact.digest, durationMs: Date.now() - started },
          'training finished',
        );
        return {
          artifactUri: artifact.uri,
          artifactDigest: artifact.digest,
          sizeBytes: artifact.sizeBytes,
          trainer: 'builtin:logistic-regression',
          parameters: { ...params },
          trainerMetrics: null,
          dependencyLockDigest: fileDigest(deps.lockFilePath),
          codeRevision: deps.codeRevision,
          resumedFromEpoch: resumeFrom?.epochsDone ?? null,
          trainingMs: Date.now() - started,
        };
      });
    },
  };
}

async function trainWithCommand(
  deps: ActivityDeps,
  input: {
    snapshotDigest: string;
    trainer: Extract<TrainerSpec, { kind: 'command' }>;
    seed: number;
  },
  started: number,
): Promise<TrainedModel> {
  const context = Context.current();
  const lockPath = path.resolve(input.trainer.lockFile);
  if (!fs.existsSync(lockPath)) {
    throw ApplicationFailure.create({
      message: `trainer.lockFile: ${lockPath} does not exist; a run must pin its dependencies`,
      type: FailureType.InvalidInput,
      nonRetryable: true,
    });
  }
  // One folder per activity (not per attempt): a retry overwrites the same files.
  const outputDir = path.join(
    deps.workDir,
    'trainers',
    encodeURIComponent(activityLogFields().workflowId),
    context.info.activityId,
  );
  try {
    const { modelPath, output } = await runCommandTrainer({
      command: input.trainer.command,
      input: {
        snapshotPath: await deps.store.localPath(input.snapshotDigest),
        params: input.trainer.params,
        seed: input.seed,
        outputDir,
      },
      timeoutMs: input.trainer.timeoutSeconds * 1000,
      signal: context.cancellationSignal,
      onAlive: () =>
        context.heartbeat({ fraction: 0, epoch: 0, epochs: 0, checkpointDigest: null }),
    });
    const artifact = await deps.store.put(fs.readFileSync(modelPath));
    const { accuracy, precision, recall, f1, rocAuc } = output.metrics;
    return {
      artifactUri: artifact.uri,
      artifactDigest: artifact.digest,
      sizeBytes: artifact.sizeBytes,
      trainer: `command:${path.basename(input.trainer.command[0]!)}`,
      parameters: {
        ...input.trainer.params,
        command: input.trainer.command,
        lockFile: input.trainer.lockFile,
        timeoutSeconds: input.trainer.timeoutSeconds,
      },
      trainerMetrics: { accuracy, precision, recall, f1, rocAuc },
      dependencyLockDigest: fileDigest(lockPath),
      codeRevision: deps.codeRevision,
      resumedFromEpoch: null,
      trainingMs: Date.now() - started,
    };
  } catch (error) {
    if (error instanceof TrainerError) {
      // A trainer that breaks its contract will break it again; do not retry.
      throw ApplicationFailure.create({
        message: error.message,
        type: FailureType.TrainerFailed,
        nonRetryable: true,
      });
    }
    throw error;
  }
}

function fileDigest(file: string): string {
  return sha256Digest(fs.readFileSync(file));
}
