// Gateway speed against the same model runtime in a bare fastify handler, side by side.
//
// Each server runs in a process of its own (bench/bench-server.ts); the gateway flushes to a
// real PostgreSQL server, as in production. The load is vegeta (bench/load.ts), sending the
// held-out e-mails the replayer sends, in turn. Each comparison runs BENCH_ROUNDS times (5),
// for BENCH_SECONDS each (6), the pair swapping order every round so that drift on the machine
// hits both sides alike; the medians of the per-round figures are printed, each round in
// brackets. Throughput is 10 connections at full speed, read two ways: answers per second,
// and answers per second of the server's own CPU time (all its threads, from /proc), which
// does not move when the load generator, sharing a core, falls behind. Latency is an open-loop
// load paced evenly at BENCH_RATE req/s (500, the goal's rate). BENCH_VERBOSE=1 prints every
// run; BENCH_NODE_FLAGS (say '--cpu-prof --cpu-prof-dir=/tmp/p') go to both servers' node;
// BENCH_ONLY=shadow (or throughput, latency, comma-separated) runs only those comparisons,
// for more rounds of the one being studied in the same time.
//
// On a machine of two or more cores the server measured runs alone on the last core, and
// this process, PostgreSQL and vegeta on the others (taskset), so that the load generator
// competes with neither side for the server's core and the figures compare the servers'
// own work. BENCH_PIN=0 turns that off. Figures are for reading, never asserted.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { FileArtifactStore } from '../lib/artifacts/store.js';
import { importSpamAssassin } from '../lib/corpus/spam-assassin.js';
import { openPostgres } from '../lib/db/db.js';
import { migrate } from '../lib/db/migrate.js';
import { startPostgres, type PostgresServer } from '../lib/dev/postgres-server.js';
import { LogisticRegressionParamsSchema } from '../lib/model/params.js';
import { writeRoute } from '../lib/serving/route-store.js';
import { heldOutEmails } from '../client/replay.js';
import { registerTrainedVersion } from '../test/fixtures/trained-version.js';
import { attack, writeTargets, type LoadResult } from './load.js';

const CORES = os.availableParallelism();
const PIN = process.env.BENCH_PIN !== '0' && CORES >= 2 && hasTaskset();
const SERVER_CORE = String(CORES - 1);
const OTHER_CORES = `0-${CORES - 2}`;

function hasTaskset(): boolean {
  return spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0;
}

const SECONDS = Number(process.env.BENCH_SECONDS ?? 6);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const RATE = Number(process.env.BENCH_RATE ?? 500);
const COMPARISONS = ['throughput', 'latency', 'shadow'] as const;
type Comparison = (typeof COMPARISONS)[number];
const ONLY = (process.env.BENCH_ONLY ?? COMPARISONS.join(',')).split(',');
for (const name of ONLY)
  if (!COMPARISONS.includes(name as Comparison))
    throw new Error(`BENCH_ONLY: each name must be one of ${COMPARISONS.join(', ')} (got ${name})`);
const runs = (comparison: Comparison): boolean => ONLY.includes(comparison);

/** Starts bench/bench-server.ts with `args`; resolves with its URL once it listens. */
async function startServer(args: string[]): Promise<{ url: string; child: ChildProcess }> {
  // BENCH_NODE_FLAGS: node flags for both servers, e.g. '--cpu-prof --cpu-prof-dir=/tmp/p'.
  const nodeFlags = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  const command = [
    process.execPath,
    ...nodeFlags,
    '--import',
    'tsx',
    path.resolve('bench/bench-server.ts'),
    ...args,
  ];
  const pinned = PIN ? ['taskset', '-c', SERVER_CORE, ...command] : command;
  const child = spawn(pinned[0]!, pinned.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
  // Node flags such as --trace-gc write to stdout too: the URL is the line that starts {"url",
  // and every other line goes on to stderr, so that the child never blocks on a full pipe.
  const lines = readline.createInterface({ input: child.stdout! });
  return new Promise((resolve, reject) => {
    lines.on('line', (line) => {
      if (line.startsWith('{"url"'))
        resolve({ url: (JSON.parse(line) as { url: string }).url, child });
      else process.stderr.write(`${args[0]}: ${line}\n`);
    });
    child.on('exit', () => reject(new Error(`bench-server ${args[0]} exited before it listened`)));
  });
}

async function main(): Promise<void> {
  // What this process starts from here on (PostgreSQL, vegeta) inherits the other cores.
  if (PIN) spawnSync('taskset', ['-pc', OTHER_CORES, String(process.pid)], { stdio: 'ignore' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-bench-gw-'));
  const server = await startPostgres();
  try {
    await compare(server, dir);
  } finally {
    // Also when a run fails: no PostgreSQL left running behind the bench.
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function compare(server: PostgresServer, dir: string): Promise<void> {
  const artifactRoot = path.join(dir, 'artifacts');
  const databaseUrl = await server.createDatabase('bench');
  const db = openPostgres(databaseUrl, 2);
  await migrate(db);
  const store = new FileArtifactStore(artifactRoot);
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
  const bodies = (await heldOutEmails()).map((email) =>
    JSON.stringify({ input: { subject: email.subject, from: email.from, body: email.body } }),
  );

  const start = async (args: string[], url: (served: string) => string, name: string) => {
    const server = await startServer(args);
    const targets = path.join(dir, `${name}.targets`);
    writeTargets(targets, url(server.url), bodies);
    return { ...server, targets };
  };
  const bare = await start(['bare', artifactRoot, first.digest], (url) => url, 'bare');
  const gateway = await start(
    ['gateway', databaseUrl, artifactRoot],
    (url) => `${url}/v1/models/bench/predict`,
    'gateway',
  );
  type Side = typeof bare;

  let generation = 1;
  const route = async (shadowPercent: number): Promise<void> => {
    generation += 1;
    await writeRoute(
      db,
      {
        model: 'bench',
        generation,
        weights: { [first.version]: 10_000 },
        shadow: shadowPercent > 0 ? { version: second.version, percent: shadowPercent } : null,
        warm: [],
        sticky: false,
      },
      'bench',
    );
    for (;;) {
      const answer = await fetch(`${gateway.url}/v1/models/bench/route`);
      const served = answer.ok
        ? ((await answer.json()) as { route: { generation: number } })
        : null;
      if (served?.route.generation === generation) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const load = async (
    label: string,
    side: Side,
    pace: { rate: number } | { connections: number },
  ): Promise<LoadResult> => {
    const result = await attack(side.targets, SECONDS, pace, side.child.pid);
    if (process.env.BENCH_VERBOSE) process.stderr.write(`${label} ${JSON.stringify(result)}\n`);
    return result;
  };
  const full = { connections: 10 };
  const paced = { rate: RATE };
  // A pause after each full-speed run lets the gateway write its backlog of windows.
  const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 2000));

  // Warm up both sides and the shadow worker.
  await route(0);
  await load('warm bare', bare, full);
  await load('warm gateway', gateway, full);
  await route(20);
  await load('warm shadow', gateway, paced);
  await route(0);
  await settle();

  type Round = Partial<
    Record<
      'bareMax' | 'gatewayMax' | 'barePaced' | 'gatewayPaced' | 'shadowPaced' | 'plainPaced',
      LoadResult
    >
  >;
  const rounds: Round[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    // Each pair swaps order every round, so that drift on the machine hits both sides alike.
    const pair = async <T>(first: () => Promise<T>, second: () => Promise<T>): Promise<[T, T]> => {
      if (round % 2 === 0) return [await first(), await second()];
      const later = await second();
      return [await first(), later];
    };
    const results: Round = {};
    if (runs('throughput')) {
      [results.bareMax, results.gatewayMax] = await pair(
        () => load('bare max', bare, full),
        () => load('gateway max', gateway, full),
      );
      await settle();
    }
    if (runs('latency'))
      [results.barePaced, results.gatewayPaced] = await pair(
        () => load('bare paced', bare, paced),
        () => load('gateway paced', gateway, paced),
      );
    if (runs('shadow'))
      [results.shadowPaced, results.plainPaced] = await pair(
        async () => {
          await route(20);
          return load('gateway 20% shadow paced', gateway, paced);
        },
        async () => {
          await route(0);
          return load('gateway no shadow paced', gateway, paced);
        },
      );
    rounds.push(results);
  }

  for (const side of [bare, gateway]) side.child.stdin!.end();
  await Promise.all(
    [bare, gateway].map((side) => new Promise((resolve) => side.child.on('exit', resolve))),
  );
  await db.close();

  const f = (value: number): string => value.toFixed(2);
  const median = (pick: (round: Round) => number): number => {
    const values = rounds.map(pick).sort((a, b) => a - b);
    const middle = Math.floor(values.length / 2);
    return values.length % 2 ? values[middle]! : (values[middle - 1]! + values[middle]!) / 2;
  };
  const figure = (pick: (round: Round) => number): string =>
    `${f(median(pick))} [${rounds.map((round) => f(pick(round))).join(', ')}]`;
  const errors = rounds.reduce(
    (sum, round) => sum + Object.values(round).reduce((n, result) => n + result.errors, 0),
    0,
  );
  console.log(
    `gateway vs bare fastify with the same runtime, ${bodies.length} held-out e-mails in turn (${SECONDS} s per run, median of ${ROUNDS} rounds; each round in brackets)`,
  );
  console.log(
    PIN
      ? `  servers on core ${SERVER_CORE}; PostgreSQL, vegeta and this process on ${OTHER_CORES}`
      : '  not pinned to cores: servers, PostgreSQL and vegeta share them',
  );
  if (runs('throughput')) {
    console.log(
      `  max throughput (10 connections)  bare ${Math.round(median((r) => r.bareMax!.rate))} req/s  gateway ${Math.round(median((r) => r.gatewayMax!.rate))} req/s  ratio ${figure((r) => r.gatewayMax!.rate / r.bareMax!.rate)} (goal >= 0.85)`,
    );
    // The same throughput read off the servers' own CPU time: what one core answers, whether or
    // not the load generator kept the server busy all the time.
    const cpuMicros = (result: LoadResult): number =>
      (1000 * result.serverCpuMs!) / result.requests;
    if (rounds.every((r) => r.bareMax!.serverCpuMs !== null && r.gatewayMax!.serverCpuMs !== null))
      console.log(
        `  server CPU per request at max  bare ${f(median((r) => cpuMicros(r.bareMax!)))} µs  gateway ${f(median((r) => cpuMicros(r.gatewayMax!)))} µs  throughput per CPU ratio ${figure((r) => cpuMicros(r.bareMax!) / cpuMicros(r.gatewayMax!))} (goal >= 0.85)`,
      );
    console.log(
      `  PostgreSQL CPU per gateway request at max (the prediction log and metric windows, on the load generator's core): ${f(median((r) => (1000 * r.gatewayMax!.postgresCpuMs) / r.gatewayMax!.requests))} µs; per bare request ${f(median((r) => (1000 * r.bareMax!.postgresCpuMs) / r.bareMax!.requests))} µs`,
    );
  }
  if (runs('latency'))
    console.log(
      `  p99 at ${RATE} req/s  bare ${f(median((r) => r.barePaced!.p99Ms))} ms  gateway ${f(median((r) => r.gatewayPaced!.p99Ms))} ms  added ${figure((r) => r.gatewayPaced!.p99Ms - r.barePaced!.p99Ms)} ms (goal <= 1 ms)`,
    );
  if (runs('shadow'))
    console.log(
      `  p99 at ${RATE} req/s  gateway with 20% shadow ${f(median((r) => r.shadowPaced!.p99Ms))} ms, without ${f(median((r) => r.plainPaced!.p99Ms))} ms  ratio ${figure((r) => r.shadowPaced!.p99Ms / r.plainPaced!.p99Ms)} (goal <= 1.10)`,
    );
  console.log(`  errors: ${errors}`);
}

await main();
