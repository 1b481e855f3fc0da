import type { ActivityOptions } from '@temporalio/common';

/**
 * Activity options shared by the workflows. Frozen: workflow code may read them but a run
 * must never change what another run sees.
 */

/** Storage and registry calls: short, idempotent, retried with backoff. */
export const DATA_ACTIVITY: ActivityOptions = Object.freeze({
  startToCloseTimeout: '15m',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 10 },
});

/** Training: long, alive while it heartbeats; a retry resumes from the heartbeat's checkpoint. */
export const TRAINING_ACTIVITY: ActivityOptions = Object.freeze({
  startToCloseTimeout: '4h',
  heartbeatTimeout: '10s',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 10 },
});
