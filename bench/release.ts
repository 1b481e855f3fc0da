// Release reaction times on a real stack (Temporal dev server, worker, gateway, PGlite):
//   - rollback reaction: fault onset on the canary to 100% stable served, checks every 1 s
//     (goal <= 2 s);
//   - `release start` to the first request the candidate answers (goal <= 1 s).
// Each is measured ROUNDS times and printed with its median; the goals are for reading, not asserted.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { heldOutEmails, replayTraffic } from '../client/replay.js';
import { loadConfig } from '../lib/config.js';
import { freePort } from '../lib/dev/temporal-server.js';
import { createLogger } from '../lib/logger.js';
import { LogisticRegressionParamsSchema } from '../lib/model/params.js';
import { setAlias } from '../lib/registry/aliases.js';
import { writeRoute } from '../lib/serving/route-store.js';
import { FileArtifactStore } from '../lib/artifacts/store.js';
import type { releaseWorkflow } from '../workflows/release.js';
import { startStack } from '../workers/stack.js';
import { registerTrainedVersion } from '../test/fixtures/trained-version.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

async function main(): Promise<void> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-bench-release-'));
  const config = loadConfig({
    ...process.env,
    MLOPS_HOME: home,
    TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}`,
    MLOPS_API_PORT: String(await freePort()),
    MLOPS_GATEWAY_PORT: String(await freePort()),
  });
  const stack = await startStack({
    config,
    logger: createLogger('warn'),
    devServer: true,
    worker: true,
    api: false,
    gateway: true,
    uiPort: 0,
  });
  const store = new FileArtifactStore(config.artifactRoot);
  const emails = await heldOutEmails();
  const params = LogisticRegressionParamsSchema.parse({ hashBits: 16, epochs: 2 });
  const register = async (model: string, seed: number): Promise<number> =>
    (
      await registerTrainedVersion(stack.db, store, {
        model,
        rows: emails.slice(0, 500),
        params,
        seed,
        owner: 'bench',
        key: `${model}-${seed}`,
      })
    ).version;
  const gateway = stack.gateway!;
  const rollbackMs: number[] = [];
  const firstRequestMs: number[] = [];

  try {
    for (let round = 0; round < ROUNDS; round++) {
      const model = `bench-release-${round}`;
      const stable = await register(model, 1);
      const candidate = await register(model, 2);
      await setAlias(
        stack.db,
        { model, alias: 'production', version: stable },
        { actor: 'bench', channel: 'system', reason: 'bench' },
      );
      await writeRoute(
        stack.db,
        {
          model,
          generation: 1,
          weights: { [stable]: 10_000 },
          shadow: null,
          warm: [],
          sticky: false,
        },
        'bench',
      );
      while (gateway.servedGeneration(model) < 1)
        await new Promise((resolve) => setTimeout(resolve, 20));
      const stopTraffic = new AbortController();
      const traffic = replayTraffic(
        {
          gatewayUrl: stack.gatewayUrl!,
          model,
          rate: 200,
          durationMs: 600_000,
          labelsAfterSeconds: -1,
          signal: stopTraffic.signal,
        },
        emails,
      );

      const started = performance.now();
      const handle = await stack.client!.workflow.start<typeof releaseWorkflow>('releaseWorkflow', {
        workflowId: `release/${model}/v${candidate}`,
        taskQueue: config.MLOPS_TASK_QUEUE,
        args: [
          {
            model,
            version: candidate,
            requestedBy: 'bench',
            plan: {
              steps: [{ weight: 50, bake: '10m', checkInterval: '1s' }],
              checks: [
                {
                  metric: 'error_rate',
                  against: 'absolute',
                  pass: 0.01,
                  fail: 0.05,
                  minSamples: 5,
                },
              ],
              failureLimit: 1,
              inconclusiveLimit: 1000,
            },
          },
        ],
      });
      // First answer from the candidate, seen in the gateway's own counters.
      while (
        !(await gateway.app.inject({ method: 'GET', url: '/metrics' })).body.includes(
          `model="${model}",version="${candidate}",outcome="ok"`,
        )
      ) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      firstRequestMs.push(performance.now() - started);

      await new Promise((resolve) => setTimeout(resolve, 3000));
      const onset = performance.now();
      await stack.db.query(
        'INSERT INTO fault_injections (model, version, error_rate, updated_by) VALUES ($1, $2, 1, $3)',
        [model, candidate, 'bench'],
      );
      const routeUrl = `/v1/models/${model}/route`;
      for (;;) {
        const live = (await gateway.app.inject({ method: 'GET', url: routeUrl })).json<{
          route: { weights: Record<string, number> };
        }>();
        if (live.route.weights[String(candidate)] === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      rollbackMs.push(performance.now() - onset);
      await handle.result();
      stopTraffic.abort();
      await traffic;
    }
  } finally {
    await stack.stop();
    fs.rmSync(home, { recursive: true, force: true });
  }

  const median = (values: number[]): number =>
    [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const show = (values: number[]): string => values.map((ms) => (ms / 1000).toFixed(2)).join(' ');
  console.log(
    `release reaction times (${ROUNDS} rounds, 200 req/s of held-out mail, checks every 1 s)`,
  );
  console.log(
    `  rollback: fault onset to 100% stable served   median ${(median(rollbackMs) / 1000).toFixed(2)} s   runs ${show(rollbackMs)} (goal <= 2 s)`,
  );
  console.log(
    `  release start to first candidate answer       median ${(median(firstRequestMs) / 1000).toFixed(2)} s   runs ${show(firstRequestMs)} (goal <= 1 s)`,
  );
}

await main();
