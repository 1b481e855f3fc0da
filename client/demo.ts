import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import type { DatasetSummary } from '../lib/registry/catalog.js';
import type { ModelVersionRecord } from '../lib/registry/types.js';
import { temporalUiLink } from '../lib/temporal/conventions.js';
import { startStack } from '../workers/stack.js';
import { ApiClient } from './api-client.js';
import { printRecord } from './output.js';
import { newRunId, readTrainingSpec, startTraining, waitWithProgress } from './train.js';

const SPECS = fileURLToPath(new URL('../specs/', import.meta.url));

/**
 * The main job on real data: start the whole stack in this process, import the
 * SpamAssassin corpus, train and register spam-filter v1 on the older mail, then v2 on
 * more mail gated against v1, print both registry records and write a JSON report.
 */
async function demo(): Promise<number> {
  const config = loadConfig();
  const logger = createLogger(process.env.LOG_LEVEL ?? 'warn');
  const started = Date.now();
  const stack = await startStack({ config, logger, devServer: true, worker: true, api: true });
  const api = new ApiClient(stack.apiUrl!);
  const report: Record<string, unknown> = {
    startedAt: new Date(started).toISOString(),
    temporalUi: stack.uiUrl,
    versions: [],
  };

  try {
    for (const file of ['spam-filter-v1.yaml', 'spam-filter-v2.yaml']) {
      const { raw, spec } = readTrainingSpec(path.join(SPECS, file));
      const runId = newRunId();
      const { handle } = await startTraining(stack.client!, {
        raw,
        spec,
        runId,
        requestedBy: 'demo',
        taskQueue: config.MLOPS_TASK_QUEUE,
      });
      const { runId: executionId } = await handle.describe();
      const uiUrl = temporalUiLink(
        stack.uiUrl,
        config.TEMPORAL_NAMESPACE,
        handle.workflowId,
        executionId,
      );
      process.stdout.write(`\n== ${file}: ${handle.workflowId}\n`);
      const stepStarted = Date.now();
      const result = await waitWithProgress(handle, true);
      const record = await api.get<ModelVersionRecord>(
        `/v1/models/${spec.model}/versions/${result.version}`,
      );
      printRecord(record, uiUrl);
      process.stdout.write(
        `  outcome          ${result.outcome}${result.gate.reasons.length ? `: ${result.gate.reasons.join('; ')}` : ''} (${((Date.now() - stepStarted) / 1000).toFixed(1)} s)\n`,
      );
      (report.versions as unknown[]).push({
        spec: file,
        workflowId: handle.workflowId,
        uiUrl,
        outcome: result.outcome,
        gate: result.gate,
        baseline: result.baseline,
        record,
      });
    }

    const { datasets } = await api.get<{ datasets: DatasetSummary[] }>('/v1/datasets');
    report.datasets = datasets;
    const latest = (report.versions as Array<{ record: ModelVersionRecord }>).at(-1)!.record
      .evaluation as { accuracy: number; f1: number };
    const corpus = datasets.find((dataset) => dataset.name === 'spam-assassin');
    process.stdout.write(
      `\ncorpus: ${JSON.stringify(corpus?.report?.rowsRead)} e-mails read, ${corpus?.rowCount} kept, ${JSON.stringify(corpus?.report?.dropped)} dropped, repairs ${JSON.stringify(corpus?.report?.repaired)}\n` +
        `latest version on the date split: accuracy ${latest.accuracy.toFixed(4)} (target >= 0.95), spam F1 ${latest.f1.toFixed(4)} (target >= 0.90)\n`,
    );

    report.finishedAt = new Date().toISOString();
    report.durationSeconds = (Date.now() - started) / 1000;
    const out = path.join(config.dataDir, 'demo', 'report.json');
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(
      `report: ${out}\nTemporal UI: ${stack.uiUrl} (run \`npx mlops dev\` to browse these histories later)\ndone in ${report.durationSeconds} s\n`,
    );
    const allAccepted = (report.versions as Array<{ outcome: string }>).every(
      (entry) => entry.outcome === 'accepted',
    );
    return allAccepted ? 0 : 1;
  } finally {
    await stack.stop();
  }
}

demo().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`demo failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(3);
  },
);
