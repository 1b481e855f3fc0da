import type { Db, Queryable } from '../db/db.js';

export interface DatasetEntry {
  name: string;
  source: string;
  owner: string;
  description: string;
  classification: 'public' | 'internal' | 'personal' | 'restricted';
  schema: Record<string, unknown>;
}

/**
 * Records an imported dataset version and makes it the dataset's latest. Keyed by the
 * content digest, so importing the same rows twice records one version.
 */
export async function recordDatasetVersion(
  db: Db,
  entry: DatasetEntry,
  version: { digest: string; uri: string; rowCount: number; report: Record<string, unknown> },
): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query(
      `INSERT INTO datasets (name, source, owner, description, classification, schema, latest_digest)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, NULL)
       ON CONFLICT (name) DO UPDATE SET source = EXCLUDED.source, owner = EXCLUDED.owner,
         description = EXCLUDED.description, classification = EXCLUDED.classification,
         schema = EXCLUDED.schema, updated_at = now()`,
      [
        entry.name,
        entry.source,
        entry.owner,
        entry.description,
        entry.classification,
        JSON.stringify(entry.schema),
      ],
    );
    await tx.query(
      `INSERT INTO dataset_versions (digest, dataset, uri, row_count, report)
       VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT (digest) DO NOTHING`,
      [version.digest, entry.name, version.uri, version.rowCount, JSON.stringify(version.report)],
    );
    await tx.query('UPDATE datasets SET latest_digest = $2, updated_at = now() WHERE name = $1', [
      entry.name,
      version.digest,
    ]);
  });
}

/** Records a snapshot (the exact rows a run used); the same rows give the same digest, recorded once. */
export async function recordSnapshot(
  db: Queryable,
  snapshot: {
    digest: string;
    dataset: string;
    datasetDigest: string;
    uri: string;
    split: Record<string, unknown>;
    trainRows: number;
    evalRows: number;
  },
): Promise<void> {
  await db.query(
    `INSERT INTO snapshots (digest, dataset, dataset_digest, uri, split, train_rows, eval_rows)
     VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7) ON CONFLICT (digest) DO NOTHING`,
    [
      snapshot.digest,
      snapshot.dataset,
      snapshot.datasetDigest,
      snapshot.uri,
      JSON.stringify(snapshot.split),
      snapshot.trainRows,
      snapshot.evalRows,
    ],
  );
}

export interface DatasetSummary extends DatasetEntry {
  latestDigest: string | null;
  rowCount: number | null;
  report: Record<string, unknown> | null;
}

export async function listDatasets(db: Queryable): Promise<DatasetSummary[]> {
  const { rows } = await db.query<{
    name: string;
    source: string;
    owner: string;
    description: string;
    classification: DatasetEntry['classification'];
    schema: Record<string, unknown>;
    latest_digest: string | null;
    row_count: number | null;
    report: Record<string, unknown> | null;
  }>(
    `SELECT d.*, v.row_count, v.report FROM datasets d
       LEFT JOIN dataset_versions v ON v.digest = d.latest_digest ORDER BY d.name`,
  );
  return rows.map((row) => ({
    name: row.name,
    source: row.source,
    owner: row.owner,
    description: row.description,
    classification: row.classification,
    schema: row.schema,
    latestDigest: row.latest_digest,
    rowCount: row.row_count,
    report: row.report,
  }));
}
