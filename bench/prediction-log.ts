// The gateway's prediction log insert (one array per column, serving/gateway.ts) against the
// one JSON document per batch it replaced, side by side on a real PostgreSQL: ROUNDS rounds of
// 40 batches of 2,500 predictions each, alternating. Prints PostgreSQL's CPU per row (all its
// processes, from /proc) and this process's, medians; above 1 means ours costs less.
// Figures are for reading, not asserted.
import { startPostgres } from '../lib/dev/postgres-server.js';
import { openPostgres, type Db } from '../lib/db/db.js';
import { migrate } from '../lib/db/migrate.js';
import { insertPredictions, type PredictionColumns } from '../lib/serving/metric-store.js';
import { RecentPredictions } from '../lib/serving/recent.js';
import { cpuOfCommand } from './load.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BATCHES = 40;
const BATCH = 2_500;

const COLUMNS = 'id, model, version, label, at, feedback_label, feedback_at';
const VALUES = `p.id, p.model, p.version, p.label, to_timestamp(p.at / 1000.0),
  p.feedback_label, to_timestamp(p.feedback_at / 1000.0)`;

/** The baseline: the batch as one jsonb document. */
const asJson = (db: Db, batch: PredictionColumns) =>
  db.query(
    `INSERT INTO predictions (${COLUMNS}) SELECT ${VALUES}
       FROM jsonb_to_recordset($1::jsonb) AS p(id uuid, model text, version int, label text,
            at bigint, feedback_label text, feedback_at bigint)
     ON CONFLICT (id) DO NOTHING`,
    [
      JSON.stringify(
        batch.ids.map((id, i) => ({
          id,
          model: batch.models[i],
          version: batch.versions[i],
          label: batch.labels[i],
          at: batch.at[i],
          feedback_label: batch.feedbackLabels[i],
          feedback_at: batch.feedbackAt[i],
        })),
      ),
    ],
  );

/** Ours: what the gateway writes (lib/serving/metric-store.ts). */
const asArrays = (db: Db, batch: PredictionColumns) => insertPredictions(db, batch);

const server = await startPostgres();
const db = openPostgres(await server.createDatabase('prediction_log'), 2);
try {
  await migrate(db);
  // Batches as the gateway takes them from its memory of recent predictions.
  const recent = new RecentPredictions(BATCH);
  const batch = (): PredictionColumns => {
    for (let i = 0; i < BATCH; i++) {
      const id = recent.add('bench', 1 + (i % 2), i % 3 ? 'ham' : 'spam');
      if (i % 5 === 0) recent.setFeedback(id, 'ham', Date.now());
    }
    const taken = recent.unsaved();
    recent.markSaved(taken);
    return taken;
  };
  const measure = async (insert: (db: Db, batch: PredictionColumns) => Promise<unknown>) => {
    const batches = Array.from({ length: BATCHES }, batch);
    const postgresBefore = cpuOfCommand('postgres');
    const nodeBefore = process.cpuUsage();
    for (const rows of batches) await insert(db, rows);
    const node = process.cpuUsage(nodeBefore);
    const rows = BATCHES * BATCH;
    return {
      postgres: (cpuOfCommand('postgres') - postgresBefore) / 1e3 / rows,
      node: (node.user + node.system) / rows,
    };
  };
  const runs: Array<{
    json: { postgres: number; node: number };
    arrays: (typeof runs)[0]['json'];
  }> = [];
  await measure(asArrays); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    const json = await measure(asJson);
    const arrays = await measure(asArrays);
    runs.push({ json, arrays });
  }
  const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const json = median(runs.map((run) => run.json.postgres));
  const arrays = median(runs.map((run) => run.arrays.postgres));
  console.log(
    `prediction log insert, ${BATCHES} x ${BATCH} rows per side, median of ${ROUNDS} rounds`,
  );
  console.log(
    `  PostgreSQL CPU per row  one JSON document ${json.toFixed(2)} µs  one array per column ${arrays.toFixed(2)} µs  ratio ${(json / arrays).toFixed(2)}`,
  );
  console.log(
    `  this process per row    one JSON document ${median(runs.map((r) => r.json.node)).toFixed(2)} µs  one array per column ${median(runs.map((r) => r.arrays.node)).toFixed(2)} µs`,
  );
} finally {
  await db.close();
  await server.stop();
}
