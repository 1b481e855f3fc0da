import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { openPostgres, type Db } from '../lib/db/db.js';
import { migrate } from '../lib/db/migrate.js';
import { startPostgres } from '../lib/dev/postgres-server.js';
import type { Actor } from '../lib/registry/types.js';
import { registerVersion, type RegisterVersionInput } from '../lib/registry/versions.js';

/**
 * Registration latency for a model with 1,000 versions (the baseline) and one with
 * 100,000, measured in the same run on a throwaway PostgreSQL server. Registration
 * should not slow down as a model grows: the goal is a median ratio of at most 1.5.
 * Prints a table; asserts nothing.
 */

const SAMPLES = 200;
const WARMUP = 20;
const GOAL_RATIO = 1.5;
const ACTOR: Actor = { actor: 'bench', channel: 'system' };

const sha256 = (text: string): string =>
  `sha256:${createHash('sha256').update(text).digest('hex')}`;

function registration(model: string, tag: string): RegisterVersionInput {
  const runId = `run-${tag}`;
  const artifactDigest = sha256(`${model}/${tag}`);
  return {
    model,
    owner: 'bench',
    artifactUri: `file:///artifacts/${artifactDigest}`,
    artifactDigest,
    snapshotDigest: sha256('snapshot'),
    featureSchema: { text: 'string' },
    evaluation: { accuracy: 0.9 },
    lineage: {
      codeRevision: 'bench',
      trainer: 'builtin:logistic-regression',
      parameters: { epochs: 4 },
      seed: 7,
      datasetDigest: sha256('dataset'),
      snapshotDigest: sha256('snapshot'),
      dependencyLockDigest: sha256('lock'),
      parentRunId: null,
      runId,
      workflowId: `train/${model}/${runId}`,
    },
    idempotencyKey: `bench/${model}/${tag}`,
  };
}

/**
 * Gives `model` versions 1..count in one statement each, with the audit rows a real
 * history would have, so the indexes registration touches are as large as in life.
 */
async function seedModel(db: Db, model: string, count: number): Promise<void> {
  const template = registration(model, 'seed');
  await db.query('INSERT INTO models (name, owner, last_version) VALUES ($1, $2, $3)', [
    model,
    'bench',
    count,
  ]);
  await db.query(
    `INSERT INTO model_versions (model, version, status, artifact_uri, artifact_digest,
       snapshot_digest, feature_schema, evaluation, owner, lineage, run_id, idempotency_key)
     SELECT $1, g, 'registered', $2 || g, $3, $4, $5::jsonb, $6::jsonb, 'bench', $7::jsonb,
            'seed-run-' || g, 'seed/' || $1 || '/' || g
       FROM generate_series(1, $8::int) AS g`,
    [
      model,
      template.artifactUri,
      template.artifactDigest,
      template.snapshotDigest,
      JSON.stringify(template.featureSchema),
      JSON.stringify(template.evaluation),
      JSON.stringify(template.lineage),
      count,
    ],
  );
  await db.query(
    `INSERT INTO audit_log (actor, channel, action, model, version)
     SELECT 'bench', 'system', 'version.registered', $1, g FROM generate_series(1, $2::int) AS g`,
    [model, count],
  );
}

async function timeOne(db: Db, model: string, tag: string): Promise<number> {
  const started = performance.now();
  const result = await registerVersion(db, registration(model, tag), ACTOR);
  const elapsedMs = performance.now() - started;
  if (!result.created) throw new Error(`${model} ${tag} was not created; keys must be fresh`);
  return elapsedMs;
}

function quantile(sortedMs: number[], q: number): number {
  const index = Math.min(sortedMs.length - 1, Math.ceil(q * sortedMs.length) - 1);
  return sortedMs[Math.max(0, index)]!;
}

async function main(): Promise<void> {
  const sizes = [
    { model: 'bench-1k', existing: 1_000 },
    { model: 'bench-100k', existing: 100_000 },
  ];
  const server = await startPostgres();
  const db = openPostgres(await server.createDatabase('bench'), 4);
  try {
    await migrate(db);

    const seedStarted = performance.now();
    for (const size of sizes) await seedModel(db, size.model, size.existing);
    await db.query('ANALYZE');
    const seedSeconds = (performance.now() - seedStarted) / 1000;
    console.log(
      `seeded ${sizes.map((s) => s.existing).join(' + ')} versions in ${seedSeconds.toFixed(1)} s`,
    );

    for (let i = 0; i < WARMUP; i += 1) {
      for (const size of sizes) await timeOne(db, size.model, `warm-${i}`);
    }

    // Interleaved, so a checkpoint or autovacuum mid-run lands on both models alike.
    const samplesMs = new Map(sizes.map((size) => [size.model, [] as number[]]));
    for (let i = 0; i < SAMPLES; i += 1) {
      for (const size of sizes) {
        samplesMs.get(size.model)!.push(await timeOne(db, size.model, `s-${i}`));
      }
    }

    const rows = sizes.map((size) => {
      const sorted = [...samplesMs.get(size.model)!].sort((a, b) => a - b);
      return { ...size, medianMs: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99) };
    });
    printTable(rows);

    const [baseline, grown] = rows as [(typeof rows)[0], (typeof rows)[0]];
    const medianRatio = grown.medianMs / baseline.medianMs;
    const p99Ratio = grown.p99Ms / baseline.p99Ms;
    const verdict = medianRatio <= GOAL_RATIO ? 'within goal' : 'OVER GOAL';
    console.log(
      `\nratio 100k / 1k: median ${medianRatio.toFixed(2)}, p99 ${p99Ratio.toFixed(2)} ` +
        `(goal: median <= ${GOAL_RATIO}; ${verdict})`,
    );
  } finally {
    await db.close();
    await server.stop();
  }
}

function printTable(
  rows: Array<{ model: string; existing: number; medianMs: number; p99Ms: number }>,
): void {
  console.log(`\nregistration latency, ${SAMPLES} sequential registrations per model`);
  console.log('model        existing versions   median ms   p99 ms');
  for (const row of rows) {
    console.log(
      `${row.model.padEnd(12)} ${String(row.existing).padStart(17)} ` +
        `${row.medianMs.toFixed(2).padStart(11)} ${row.p99Ms.toFixed(2).padStart(8)}`,
    );
  }
}

await main();
