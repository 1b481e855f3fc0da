import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import cliProgress from 'cli-progress';
import {
  WorkflowExecutionAlreadyStartedError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { parse as parseYaml } from 'yaml';
import type { TrainingHeartbeat } from '../activities/training.js';
import { sha256Digest } from '../lib/artifacts/store.js';
import { InvalidInputError } from '../lib/errors.js';
import { parseWith } from '../lib/spec/parse.js';
import { TrainingSpecSchema, type TrainingSpec } from '../lib/spec/training-spec.js';
import {
  MlopsModel,
  RUN_ID_PATTERN,
  TRAINING_TASK_QUEUE,
  trainingWorkflowId,
} from '../lib/temporal/conventions.js';
import type {
  TrainingPipelineResult,
  trainingPipelineWorkflow,
} from '../workflows/training-pipeline.js';

/** sha256 of the spec as JSON with sorted keys: equal for equal specs however they were written. */
function canonicalDigest(value: unknown): string {
  const canonical = (item: unknown): unknown =>
    Array.isArray(item)
      ? item.map(canonical)
      : item !== null && typeof item === 'object'
        ? Object.fromEntries(
            Object.keys(item)
              .sort()
              .map((key) => [key, canonical((item as Record<string, unknown>)[key])]),
          )
        : item;
  return sha256Digest(JSON.stringify(canonical(value)));
}

/** Reads and validates a YAML training spec; InvalidInputError names the file and the fields. */
export function readTrainingSpec(file: string): { raw: unknown; spec: TrainingSpec } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new InvalidInputError(
      `spec file ${file} cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new InvalidInputError(`spec file ${file} is not valid YAML: ${(error as Error).message}`);
  }
  return { raw, spec: parseWith(TrainingSpecSchema, raw, `spec file ${file}`) };
}

export function newRunId(): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
  return `run-${stamp}-${randomBytes(3).toString('hex')}`;
}

export function checkRunId(runId: string): string {
  if (!RUN_ID_PATTERN.test(runId)) {
    throw new InvalidInputError(
      `--run-id: must be 1-100 letters, digits, ".", "-" or "_", starting with a letter or digit (got ${JSON.stringify(runId)})`,
    );
  }
  return runId;
}

/**
 * Starts the training pipeline for `spec` as run `runId`. Starting a run id that is
 * already running or finished returns that run instead of starting another, so a CI
 * retry never trains twice.
 */
export async function startTraining(
  client: Client,
  options: {
    raw: unknown;
    spec: TrainingSpec;
    runId: string;
    requestedBy: string;
    taskQueue?: string;
  },
): Promise<{ handle: WorkflowHandle<typeof trainingPipelineWorkflow>; started: boolean }> {
  const workflowId = trainingWorkflowId(options.spec.model, options.runId);
  const specDigest = canonicalDigest(options.spec);
  try {
    const handle = await client.workflow.start<typeof trainingPipelineWorkflow>(
      'trainingPipelineWorkflow',
      {
        workflowId,
        taskQueue: options.taskQueue ?? TRAINING_TASK_QUEUE,
        args: [{ runId: options.runId, spec: options.raw, requestedBy: options.requestedBy }],
        // FAIL, not USE_EXISTING: the SDK hides whether USE_EXISTING started anything, and
        // "already started" must be reported for a running run as well as a finished one.
        workflowIdConflictPolicy: 'FAIL',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: [{ key: MlopsModel, value: options.spec.model }],
        memo: { specDigest },
      },
    );
    return { handle, started: true };
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    const handle = client.workflow.getHandle<typeof trainingPipelineWorkflow>(workflowId);
    // The same run id is the same run only for the same spec; anything else is a mistake.
    const earlier = (await handle.describe()).memo?.specDigest;
    if (typeof earlier === 'string' && earlier !== specDigest) {
      throw new InvalidInputError(
        `--run-id: ${options.runId} was already used for a different spec of ${options.spec.model} (spec digest ${earlier.slice(0, 19)}, now ${specDigest.slice(0, 19)}); use a new run id`,
      );
    }
    return { handle, started: false };
  }
}

/**
 * Waits for the pipeline's result, drawing a progress bar on stderr from the training
 * activity's heartbeats while it runs (only on a terminal).
 */
export async function waitWithProgress(
  handle: WorkflowHandle<typeof trainingPipelineWorkflow>,
  showProgress: boolean,
): Promise<TrainingPipelineResult> {
  const bar =
    showProgress && process.stderr.isTTY
      ? new cliProgress.SingleBar(
          {
            format: 'training [{bar}] {percentage}% | {stage}',
            hideCursor: true,
            stream: process.stderr,
          },
          cliProgress.Presets.shades_classic,
        )
      : null;
  bar?.start(100, 0, { stage: 'starting' });
  const poll = setInterval(() => {
    void handle
      .describe()
      .then((description) => {
        const pending = description.raw.pendingActivities?.[0];
        const payload = pending?.heartbeatDetails?.payloads?.[0];
        const heartbeat = payload
          ? defaultPayloadConverter.fromPayload<TrainingHeartbeat>(payload)
          : null;
        const stage = pending?.activityType?.name ?? 'waiting';
        bar?.update(heartbeat ? Math.round(heartbeat.fraction * 100) : bar.getProgress() * 100, {
          stage,
        });
      })
      .catch(() => undefined);
  }, 500);
  try {
    const result = await handle.result();
    bar?.update(100, { stage: 'done' });
    return result;
  } finally {
    clearInterval(poll);
    bar?.stop();
  }
}
