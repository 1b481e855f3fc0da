import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import cliProgress from 'cli-progress';
import type { WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { parse as parseYaml } from 'yaml';
import type { TrainingHeartbeat } from '../activities/training.js';
import { InvalidInputError } from '../lib/errors.js';
import { parseWith } from '../lib/spec/parse.js';
import { TrainingSpecSchema, type TrainingSpec } from '../lib/spec/training-spec.js';
import { RUN_ID_PATTERN } from '../lib/temporal/conventions.js';
export { startTraining } from '../lib/temporal/start-training.js';
import type {
  TrainingPipelineResult,
  trainingPipelineWorkflow,
} from '../workflows/training-pipeline.js';

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
