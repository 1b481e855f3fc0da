import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { afterAll, describe, inject, it } from 'vitest';
import { findTemporalCli } from '../../lib/dev/temporal-server.js';
import { startTraining } from '../../client/train.js';
import { TrainingSpecSchema } from '../../lib/spec/training-spec.js';
import { freshDatabase, startTestWorker, temporalClient, uniqueName } from '../helpers/env.js';
import { smallSpec } from '../helpers/specs.js';

const HISTORIES = fileURLToPath(new URL('../histories/', import.meta.url));

// Records fresh histories into test/histories when MLOPS_RECORD_HISTORIES=1; a normal run
// skips this file and replays the committed histories instead (replay.test.ts).
describe.runIf(process.env.MLOPS_RECORD_HISTORIES === '1')('recording workflow histories', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup();
  });

  it('records an accepted and a rejected training pipeline', async () => {
    const db = await freshDatabase();
    const worker = await startTestWorker({ db });
    cleanups.push(
      () => worker.stop(),
      () => db.close(),
    );
    const client = await temporalClient();

    for (const [name, raw] of [
      [
        'training-pipeline-accepted',
        smallSpec(uniqueName('replay'), { onPass: { aliases: ['candidate'] } }),
      ],
      [
        'training-pipeline-rejected',
        smallSpec(uniqueName('replay'), { gate: { minimum: { f1: 0.9999 } } }),
      ],
    ] as const) {
      const spec = TrainingSpecSchema.parse(raw);
      const { handle } = await startTraining(client, {
        raw,
        spec,
        runId: 'replay',
        requestedBy: 'test',
        taskQueue: worker.taskQueue,
      });
      await handle.result();
      // The CLI writes the canonical proto JSON that the Temporal UI also downloads.
      const json = execFileSync(findTemporalCli()!, [
        'workflow',
        'show',
        '--workflow-id',
        handle.workflowId,
        '--output',
        'json',
        '--address',
        inject('temporalAddress'),
      ]);
      fs.writeFileSync(`${HISTORIES}${name}.json`, json);
    }
  });
});
