// Pipeline wall time against the same work done directly, measured side by side.
//
// Baseline: one process imports the corpus, cuts the same snapshot, trains with the same
// parameters and seed, and evaluates: no Temporal, no database, no artifact store.
// Pipeline: trainingPipelineWorkflow on a real Temporal dev server and PGlite, start to
// result. The ratio is the cost of orchestration, durability and bookkeeping.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { newRunId, readTrainingSpec, startTraining } from '../client/train.js';
import { loadConfig } from '../lib/config.js';
import { splitRows } from '../lib/corpus/snapshot.js';
import { importSpamAssassin } from '../lib/corpus/spam-assassin.js';
import { evaluateScores } from '../lib/model/evaluate.js';
import {
  encodeModel,
  predictSpamProbability,
  trainLogisticRegression,
} from '../lib/model/logistic-regression.js';
import { createLogger } from '../lib/logger.js';
import { freePort } from '../lib/dev/temporal-server.js';
import { startStack } from '../workers/stack.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SPEC = fileURLToPath(new URL('../specs/spam-filter-v2.yaml', import.meta.url));

async function direct(): Promise<number> {
  const { spec } = readTrainingSpec(SPEC);
  if (spec.trainer.kind !== 'builtin') throw new Error('bench needs the built-in trainer');
  const started = performance.now();
  const { rows } = await importSpamAssassin();
  const split = splitRows(rows, spec.split, spec.dataset.maxRows);
  const model = await trainLogisticRegression(
    split.train.map((row) => ({ features: row, spam: row.label === 'spam' })),
    spec.trainer.params,
    spec.seed,
  );
  const bytes = encodeModel(model);
  evaluateScores(
    split.eval.map((row) => ({
      spam: row.label === 'spam',
      probability: predictSpamProbability(model, row),
      latencyMs: 0,
    })),
    model.params.threshold,
    bytes.length,
  );
  return performance.now() - started;
}

async function main(): Promise<void> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-bench-'));
  const config = loadConfig({
    ...process.env,
    MLOPS_HOME: home,
    MLOPS_API_PORT: String(await freePort()),
    TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}`,
  });
  const stack = await startStack({
    config,
    logger: createLogger('warn'),
    devServer: true,
    worker: true,
    api: false,
    uiPort: 0,
  });
  const { raw, spec } = readTrainingSpec(SPEC);
  const pipelineMs: number[] = [];
  const directMs: number[] = [];

  try {
    // One warm-up of each so that module loading and the first bundle are not measured.
    await direct();
    await (
      await startTraining(stack.client!, {
        raw,
        spec,
        runId: newRunId(),
        requestedBy: 'bench',
        taskQueue: config.MLOPS_TASK_QUEUE,
      })
    ).handle.result();

    for (let round = 0; round < ROUNDS; round++) {
      directMs.push(await direct());
      const started = performance.now();
      const { handle } = await startTraining(stack.client!, {
        raw,
        spec,
        runId: newRunId(),
        requestedBy: 'bench',
        taskQueue: config.MLOPS_TASK_QUEUE,
      });
      await handle.result();
      pipelineMs.push(performance.now() - started);
    }
  } finally {
    await stack.stop();
    fs.rmSync(home, { recursive: true, force: true });
  }

  const median = (values: number[]): number =>
    [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  console.log(`pipeline vs direct, full corpus (${ROUNDS} rounds each, alternating)`);
  console.log(
    `  direct    median ${(median(directMs) / 1000).toFixed(2)} s   runs ${directMs.map((ms) => (ms / 1000).toFixed(2)).join(' ')}`,
  );
  console.log(
    `  pipeline  median ${(median(pipelineMs) / 1000).toFixed(2)} s   runs ${pipelineMs.map((ms) => (ms / 1000).toFixed(2)).join(' ')}`,
  );
  console.log(
    `  ratio pipeline/direct ${(median(pipelineMs) / median(directMs)).toFixed(2)} (goal <= 1.15)`,
  );
}

await main();
