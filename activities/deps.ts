import { Context } from '@temporalio/activity';
import type { DecodedArtifactCache } from '../lib/artifacts/decoded-cache.js';
import type { ArtifactStore } from '../lib/artifacts/store.js';
import type { Db } from '../lib/db/db.js';
import type { Logger } from '../lib/logger.js';
import type { SlackNoticeSettings } from './notices.js';

/** What every activity may touch. One instance per worker process. */
export interface ActivityDeps {
  db: Db;
  store: ArtifactStore;
  /** Decoded rows and snapshots by digest, shared by the activities of this worker. */
  decoded: DecodedArtifactCache;
  logger: Logger;
  /** The code revision this worker runs (git commit), recorded in lineage. */
  codeRevision: string;
  /** Absolute path of the lock file that pins the built-in trainer's dependencies. */
  lockFilePath: string;
  /** Scratch space for command trainers. */
  workDir: string;
  /** Slack approval requests and notices; null sends none. */
  slack: SlackNoticeSettings | null;
  /** Builds the Temporal UI links that notices carry. */
  temporalUi: { url: string; namespace: string };
}

/** The ids an operator needs to find an activity's workflow in the Temporal UI. */
export function activityLogFields(): { workflowId: string; activityId: string; attempt: number } {
  const info = Context.current().info;
  return {
    workflowId: info.workflowExecution?.workflowId ?? 'none',
    activityId: info.activityId,
    attempt: info.attempt,
  };
}
