import {
  WorkflowExecutionAlreadyStartedError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { sha256Digest } from '../artifacts/store.js';
import { InvalidInputError } from '../errors.js';
import type { TrainingSpec } from '../spec/training-spec.js';
import type { trainingPipelineWorkflow } from '../../workflows/training-pipeline.js';
import { MlopsModel, TRAINING_TASK_QUEUE, trainingWorkflowId } from './conventions.js';

/** sha256 of the spec as JSON with sorted keys: equal for equal specs however they were written. */
export function canonicalDigest(value: unknown): string {
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
