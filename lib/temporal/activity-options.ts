import type { ActivityOptions } from '@temporalio/common';

/**
 * Activity options shared by the workflows. Frozen: workflow code may read them but a run
 * must never change what another run sees.
 */

/**
 * Database and registry calls: short, idempotent, retried with backoff. The timeout is also
 * how long a call lost with a crashed worker waits before it is retried elsewhere, so it
 * stays short.
 */
export const DATA_ACTIVITY: ActivityOptions = Object.freeze({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 10 },
});

/** Whole-dataset work (import, snapshot, evaluation): seconds on the full corpus, more on bigger data. */
export const DATASET_ACTIVITY: ActivityOptions = Object.freeze({
  startToCloseTimeout: '10m',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 10 },
});

/** Training: long, alive while it heartbeats; a retry resumes from the heartbeat's checkpoint. */
export const TRAINING_ACTIVITY: ActivityOptions = Object.freeze({
  startToCloseTimeout: '4h',
  heartbeatTimeout: '10s',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 10 },
});
