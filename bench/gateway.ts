// Gateway speed against the same model runtime in a bare fastify handler, side by side.
//
// Both servers run in this process; the gateway flushes to a real PostgreSQL server, as in
// production (PGlite would run its writes on this event loop). autocannon runs as a
// separate process so that it does not share it. Each comparison runs BENCH_ROUNDS times,
// alternating sides; the medians of the per-round figures are printed. Throughput is
// autocannon at full speed; latency at BENCH_RATE req/s (500, the goal's rate) is an
// open-loop, evenly paced load (bench/paced-load.ts), timed to the microsecond.
// BENCH_VERBOSE=1 prints every paced run.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Fastify from 'fastify';
import { FileArtifactStore } from '../lib/artifacts/store.js';
import { importSpamAssassin } from '../lib/corpus/spam-assassin.js';
import { openPostgres } from '../lib/db/db.js';
import { startPostgres } from '../lib/dev/postgres-server.js';
import { migrate } from '../lib/db/migrate.js';
import { createLogger } from '../lib/logger.js';
import { LogisticRegressionParamsSchema } from '../lib/model/params.js';
import { classify, decodeModel } from '../lib/model/logistic-regression.js';
import { writeRoute } from '../lib/serving/route-store.js';
import { Gateway } from '../serving/gateway.js';
import { registerTrainedVersion } from '../test/fixtures/trained-version.js';

const run = promisify(execFile);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const RATE = Number(process.env.BENCH_RATE ?? 500);
const AUTOCANNON = path.resolve('node_modules/.bin/autocannon');
const TSX = path.resolve('node_modules/.bin/tsx');
const PACED_LOAD = path.resolve('bench/paced-load.ts');

interface Load {
  requestsPerSecond: number;
  p99Ms: number;
  errors: number;
}

async function load(url: string, body: string, options: { rate?: number } = {}): Promise<Load> {
  if (options.rate) {
    const { stdout } = await run(
      TSX,
      [PACED_LOAD, url, String(options.rate), String(SECONDS), body],
      {
        maxBuffer: 16 * 1024 * 1024,
      },
    );
    const paced = JSON.parse(stdout) as { rate: number; p99Ms: number; errors: number };
    if (process.env.BENCH_VERBOSE) process.stderr.write(`${url} ${stdout}`);
    return { requestsPerSecond: paced.rate, p99Ms: paced.p99Ms, errors: paced.errors };
  }
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
  const server = await startPostgres();
  const db = openPostgres(await server.createDatabase('bench'), 4);
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
    return classify(runtime, input);
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

  // Warm up both (and the shadow worker), then alternate so that drift on the machine hits
  // both sides alike. A pause after each full-speed run lets the gateway write its backlog.
  const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 2000));
  await load(bareUrl, body);
  await load(gatewayUrl, body);
  await route(20);
  await load(gatewayUrl, body, { rate: RATE });
  await route(0);
  await settle();
  const rounds: Array<{
    throughputRatio: number;
    bareMax: number;
    gatewayMax: number;
    bareP99: number;
    gatewayP99: number;
    shadowP99: number;
    plainP99: number;
    errors: number;
  }> = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    const bareMax = await load(bareUrl, body);
    const gatewayMax = await load(gatewayUrl, body);
    await settle();
    const bare500 = await load(bareUrl, body, { rate: RATE });
    const gateway500 = await load(gatewayUrl, body, { rate: RATE });
    await route(20);
    const shadow500 = await load(gatewayUrl, body, { rate: RATE });
    await route(0);
    const plain500 = await load(gatewayUrl, body, { rate: RATE });
    rounds.push({
      throughputRatio: gatewayMax.requestsPerSecond / bareMax.requestsPerSecond,
      bareMax: bareMax.requestsPerSecond,
      gatewayMax: gatewayMax.requestsPerSecond,
      bareP99: bare500.p99Ms,
      gatewayP99: gateway500.p99Ms,
      shadowP99: shadow500.p99Ms,
      plainP99: plain500.p99Ms,
      errors: [bareMax, gatewayMax, bare500, gateway500, shadow500, plain500].reduce(
        (sum, result) => sum + result.errors,
        0,
      ),
    });
  }

  await gateway.stop();
  await bare.close();
  await db.close();
  await server.stop();
  fs.rmSync(dir, { recursive: true, force: true });

  const median = (pick: (round: (typeof rounds)[number]) => number): number => {
    const values = rounds.map(pick).sort((a, b) => a - b);
    const middle = Math.floor(values.length / 2);
    return values.length % 2 ? values[middle]! : (values[middle - 1]! + values[middle]!) / 2;
  };
  const each = (pick: (round: (typeof rounds)[number]) => number): string =>
    rounds.map((round) => f(pick(round))).join(', ');
  const f = (value: number): string => value.toFixed(2);
  console.log(
    `gateway vs bare fastify with the same runtime (${SECONDS} s per run, 10 connections, median of ${ROUNDS} rounds; each round in brackets)`,
  );
  console.log(
    `  max throughput   bare ${Math.round(median((r) => r.bareMax))} req/s   gateway ${Math.round(median((r) => r.gatewayMax))} req/s   ratio ${f(median((r) => r.throughputRatio))} [${each((r) => r.throughputRatio)}] (goal >= 0.85)`,
  );
  console.log(
    `  p99 at ${RATE} req/s bare ${f(median((r) => r.bareP99))} ms   gateway ${f(median((r) => r.gatewayP99))} ms   added ${f(median((r) => r.gatewayP99 - r.bareP99))} ms [${each((r) => r.gatewayP99 - r.bareP99)}] (goal <= 1 ms)`,
  );
  console.log(
    `  p99 at ${RATE} req/s gateway with 20% shadow ${f(median((r) => r.shadowP99))} ms, without ${f(median((r) => r.plainP99))} ms   ratio ${f(median((r) => r.shadowP99 / Math.max(r.plainP99, 0.01)))} [${each((r) => r.shadowP99 / Math.max(r.plainP99, 0.01))}] (goal <= 1.10)`,
  );
  console.log(`  errors: ${rounds.reduce((sum, round) => sum + round.errors, 0)}`);
}

await main();
