// Gateway speed against the same model runtime in a bare fastify handler, side by side.
//
// Both servers run in this process on one PGlite database; autocannon runs as a separate
// process so that it does not share this event loop. Prints throughput and p99 ratios.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Fastify from 'fastify';
import { FileArtifactStore } from '../lib/artifacts/store.js';
import { importSpamAssassin } from '../lib/corpus/spam-assassin.js';
import { openPglite } from '../lib/db/db.js';
import { migrate } from '../lib/db/migrate.js';
import { createLogger } from '../lib/logger.js';
import { LogisticRegressionParamsSchema } from '../lib/model/params.js';
import { decodeModel, predictSpamProbability } from '../lib/model/logistic-regression.js';
import { writeRoute } from '../lib/serving/route-store.js';
import { Gateway } from '../serving/gateway.js';
import { registerTrainedVersion } from '../test/fixtures/trained-version.js';

const run = promisify(execFile);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const AUTOCANNON = path.resolve('node_modules/.bin/autocannon');

interface Load {
  requestsPerSecond: number;
  p99Ms: number;
  errors: number;
}

async function load(url: string, body: string, options: { rate?: number } = {}): Promise<Load> {
  const args = [
    '-j',
    '-d',
    String(SECONDS),
    '-c',
    '10',
    '-m',
    'POST',
    '-H',
    'content-type=application/json',
    '-b',
    body,
  ];
  if (options.rate) args.push('-R', String(options.rate));
  const { stdout } = await run(AUTOCANNON, [...args, url], { maxBuffer: 16 * 1024 * 1024 });
  const result = JSON.parse(stdout) as {
    requests: { average: number };
    latency: { p99: number };
    errors: number;
    non2xx: number;
  };
  return {
    requestsPerSecond: result.requests.average,
    p99Ms: result.latency.p99,
    errors: result.errors + result.non2xx,
  };
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-bench-gw-'));
  const db = await openPglite(path.join(dir, 'pglite'));
  await migrate(db);
  const store = new FileArtifactStore(path.join(dir, 'artifacts'));
  const { rows } = await importSpamAssassin();
  const params = LogisticRegressionParamsSchema.parse({});
  const register = (seed: number) =>
    registerTrainedVersion(db, store, {
      model: 'bench',
      rows: rows.slice(0, 3000),
      params,
      seed,
      owner: 'bench',
      key: `bench-${seed}`,
    });
  const first = await register(1);
  const second = await register(2);
  const [v1, v2] = [first.version, second.version];
  const email = rows[4000]!;
  const body = JSON.stringify({
    input: { subject: email.subject, from: email.from, body: email.body },
  });

  // The baseline: the same model bytes, decoded once, answering in a bare fastify route.
  const runtime = decodeModel(await store.get(first.digest));
  const bare = Fastify();
  bare.post('/predict', async (request) => {
    const { input } = request.body as { input: { subject: string; from: string; body: string } };
    const probability = predictSpamProbability(runtime, input);
    return {
      label: probability >= runtime.params.threshold ? 'spam' : 'ham',
      spamProbability: probability,
    };
  });
  const bareUrl = `${await bare.listen({ port: 0, host: '127.0.0.1' })}/predict`;

  const gateway = new Gateway({ db, store, logger: createLogger('silent') });
  await gateway.start();
  const gatewayUrl = `${await gateway.app.listen({ port: 0, host: '127.0.0.1' })}/v1/models/bench/predict`;
  let generation = 1;
  const route = async (shadowPercent: number): Promise<void> => {
    generation += 1;
    await writeRoute(
      db,
      {
        model: 'bench',
        generation,
        weights: { [v1]: 10_000 },
        shadow: shadowPercent > 0 ? { version: v2, percent: shadowPercent } : null,
        warm: [],
        sticky: false,
      },
      'bench',
    );
    while (gateway.servedGeneration('bench') !== generation)
      await new Promise((resolve) => setTimeout(resolve, 50));
  };
  await route(0);

  // Warm up both, then alternate so that drift on the machine hits both sides alike.
  await load(bareUrl, body);
  await load(gatewayUrl, body);
  const bareMax = await load(bareUrl, body);
  const gatewayMax = await load(gatewayUrl, body);
  const bare500 = await load(bareUrl, body, { rate: 500 });
  const gateway500 = await load(gatewayUrl, body, { rate: 500 });
  await route(20);
  const shadow500 = await load(gatewayUrl, body, { rate: 500 });
  await route(0);
  const plain500 = await load(gatewayUrl, body, { rate: 500 });

  await gateway.stop();
  await bare.close();
  await db.close();
  fs.rmSync(dir, { recursive: true, force: true });

  const f = (value: number): string => value.toFixed(2);
  console.log(
    `gateway vs bare fastify with the same runtime (${SECONDS} s per run, 10 connections)`,
  );
  console.log(
    `  max throughput   bare ${Math.round(bareMax.requestsPerSecond)} req/s   gateway ${Math.round(gatewayMax.requestsPerSecond)} req/s   ratio ${f(gatewayMax.requestsPerSecond / bareMax.requestsPerSecond)} (goal >= 0.85)`,
  );
  console.log(
    `  p99 at 500 req/s bare ${f(bare500.p99Ms)} ms   gateway ${f(gateway500.p99Ms)} ms   added ${f(gateway500.p99Ms - bare500.p99Ms)} ms (goal <= 1 ms)`,
  );
  console.log(
    `  p99 at 500 req/s gateway with 20% shadow ${f(shadow500.p99Ms)} ms, without ${f(plain500.p99Ms)} ms   ratio ${f(shadow500.p99Ms / Math.max(plain500.p99Ms, 0.01))} (goal <= 1.10)`,
  );
  console.log(
    `  errors: ${bareMax.errors + gatewayMax.errors + bare500.errors + gateway500.errors + shadow500.errors + plain500.errors}`,
  );
}

await main();
