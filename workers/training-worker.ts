import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import { DecodedArtifactCache } from '../lib/artifacts/decoded-cache.js';
import type { ArtifactStore } from '../lib/artifacts/store.js';
import type { Db } from '../lib/db/db.js';
import type { Logger } from '../lib/logger.js';
import type { SlackNoticeSettings } from '../activities/notices.js';
import { TRAINING_TASK_QUEUE } from '../lib/temporal/conventions.js';

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

export interface TrainingWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue?: string;
  db: Db;
  store: ArtifactStore;
  logger: Logger;
  dataDir: string;
  codeRevision?: string;
  /** A prebuilt workflow bundle (tests reuse one); built from workflows/ when absent. */
  workflowBundle?: { code: string };
  lockFilePath?: string;
  /** How long in-flight activities get to finish after a shutdown request. */
  shutdownGraceTime?: string;
  /** Slack approval requests and notices; none when absent. */
  slack?: SlackNoticeSettings | null;
  /** Base URL of the Temporal UI, for the links notices carry. */
  temporalUiUrl?: string;
}

/**
 * A worker hosting the training and reproduce workflows and every activity they call.
 * `worker.run()` resolves after `worker.shutdown()` once in-flight work has finished
 * or the grace time has passed (training checkpoints meanwhile, so it resumes later).
 */
export async function createTrainingWorker(options: TrainingWorkerOptions): Promise<Worker> {
  const activities = createActivities({
    db: options.db,
    store: options.store,
    decoded: new DecodedArtifactCache(),
    logger: options.logger,
    codeRevision: options.codeRevision ?? currentCodeRevision(),
    lockFilePath: options.lockFilePath ?? path.join(REPO_ROOT, 'package-lock.json'),
    workDir: path.join(options.dataDir, 'work'),
    slack: options.slack ?? null,
    temporalUi: {
      url: options.temporalUiUrl ?? 'http://127.0.0.1:8233',
      namespace: options.namespace,
    },
  });
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue ?? TRAINING_TASK_QUEUE,
    ...(options.workflowBundle
      ? { workflowBundle: options.workflowBundle }
      : { workflowsPath: WORKFLOWS_PATH }),
    activities,
    shutdownGraceTime: options.shutdownGraceTime ?? '30s',
  });
}

/** `MLOPS_CODE_REVISION`, else the git commit of this checkout (with `+dirty` for local edits). */
export function currentCodeRevision(): string {
  if (process.env.MLOPS_CODE_REVISION) return process.env.MLOPS_CODE_REVISION;
  try {
    const git = (...args: string[]): string =>
      execFileSync('git', args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'ignore'] })
        .toString()
        .trim();
    const commit = git('rev-parse', 'HEAD');
    return git('status', '--porcelain', '--untracked-files=no') === '' ? commit : `${commit}+dirty`;
  } catch {
    return 'unknown';
  }
}
