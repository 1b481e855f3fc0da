import type { ArtifactStore } from '../../lib/artifacts/store.js';
import type { EmailRow } from '../../lib/corpus/email-row.js';
import { importSpamAssassin } from '../../lib/corpus/spam-assassin.js';
import type { Db } from '../../lib/db/db.js';
import { LogisticRegressionParamsSchema } from '../../lib/model/params.js';
import { encodeModel, trainLogisticRegression } from '../../lib/model/logistic-regression.js';
import { registerVersion } from '../../lib/registry/versions.js';
import { uniqueName } from './env.js';

let corpus: Promise<EmailRow[]> | undefined;
/** The real corpus, imported once per test file. */
export function corpusRows(): Promise<EmailRow[]> {
  corpus ??= importSpamAssassin().then(({ rows }) => rows);
  return corpus;
}

/**
 * Trains a small real model on `rows` (every 10th corpus row by default) and registers
 * it; `seed` makes versions differ. Returns the version number and artifact digest.
 */
export async function registerTrainedVersion(
  db: Db,
  store: ArtifactStore,
  model: string,
  options: { seed?: number; threshold?: number } = {},
): Promise<{ version: number; digest: string }> {
  const rows = (await corpusRows()).filter((_, i) => i % 10 === 0);
  const params = LogisticRegressionParamsSchema.parse({
    hashBits: 14,
    epochs: 3,
    threshold: options.threshold ?? 0.5,
  });
  const trained = await trainLogisticRegression(
    rows.map((row) => ({ features: row, spam: row.label === 'spam' })),
    params,
    options.seed ?? 1,
  );
  const artifact = await store.put(encodeModel(trained));
  const digest = `sha256:${'0'.repeat(64)}`;
  const { version } = await registerVersion(
    db,
    {
      model,
      owner: 'test',
      artifactUri: artifact.uri,
      artifactDigest: artifact.digest,
      snapshotDigest: digest,
      featureSchema: {},
      evaluation: {},
      lineage: {
        codeRevision: 'test',
        trainer: 'builtin:logistic-regression',
        parameters: params,
        seed: options.seed ?? 1,
        datasetDigest: digest,
        snapshotDigest: digest,
        dependencyLockDigest: digest,
        parentRunId: null,
        runId: uniqueName('run'),
        workflowId: 'test',
      },
      idempotencyKey: uniqueName('key'),
    },
    { actor: 'test', channel: 'system' },
  );
  return { version, digest: artifact.digest };
}
