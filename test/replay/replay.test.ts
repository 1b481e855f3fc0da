import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { workflowBundle } from '../helpers/env.js';

const HISTORIES = fileURLToPath(new URL('../histories/', import.meta.url));
const files = fs.readdirSync(HISTORIES).filter((name) => name.endsWith('.json'));

/**
 * Saved histories of real runs replay against today's workflow code. A change that
 * breaks one must be guarded with patched() instead of changing what old runs did.
 */
describe('saved workflow histories', () => {
  it('has histories to replay', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it.each(files)('replays %s without nondeterminism', async (file) => {
    const history = JSON.parse(fs.readFileSync(path.join(HISTORIES, file), 'utf8')) as {
      events: Array<{ workflowExecutionStartedEventAttributes?: { workflowId?: string } }>;
    };
    // Workflows may branch on their own id (a release compares it with the route's owner).
    const workflowId = history.events[0]?.workflowExecutionStartedEventAttributes?.workflowId;
    await expect(
      Worker.runReplayHistory(
        { workflowBundle: await workflowBundle() },
        history,
        workflowId ?? file,
      ),
    ).resolves.toBeUndefined();
  });
});
