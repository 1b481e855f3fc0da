import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';
import { findTemporalCli } from '../../lib/dev/temporal-server.js';

const HISTORIES = fileURLToPath(new URL('../histories/', import.meta.url));

/**
 * With MLOPS_RECORD_HISTORIES=1, saves a finished workflow's history as
 * `test/histories/<name>.json` for replay.test.ts; otherwise does nothing. The JSON is what
 * `temporal workflow show --output json` (and the Temporal UI's download) writes.
 */
export function recordHistory(workflowId: string, name: string, runId?: string): void {
  if (process.env.MLOPS_RECORD_HISTORIES !== '1') return;
  const json = execFileSync(findTemporalCli()!, [
    'workflow',
    'show',
    '--workflow-id',
    workflowId,
    // A run that continued as new is named by its run id; otherwise the latest run.
    ...(runId ? ['--run-id', runId] : []),
    '--output',
    'json',
    '--address',
    inject('temporalAddress'),
  ]);
  fs.writeFileSync(`${HISTORIES}${name}.json`, json);
}
