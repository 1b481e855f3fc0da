import type { ArtifactStore } from '../../lib/artifacts/store.js';
import type { EmailRow } from '../../lib/corpus/email-row.js';
import { importSpamAssassin } from '../../lib/corpus/spam-assassin.js';
import type { Db } from '../../lib/db/db.js';
import { LogisticRegressionParamsSchema } from '../../lib/model/params.js';
import { registerTrainedVersion as registerTrained } from '../fixtures/trained-version.js';
import { uniqueName } from './env.js';

let corpus: Promise<EmailRow[]> | undefined;
/** The real corpus, imported once per test file. */
export function corpusRows(): Promise<EmailRow[]> {
  corpus ??= importSpamAssassin().then(({ rows }) => rows);
  return corpus;
}

/**
 * Trains a small real model on every 10th corpus row and registers it; `seed` makes
 * versions differ. Returns the version number and artifact digest.
 */
export async function registerTrainedVersion(
  db: Db,
  store: ArtifactStore,
  model: string,
  options: { seed?: number; threshold?: number } = {},
): Promise<{ version: number; digest: string }> {
  return registerTrained(db, store, {
    model,
    rows: (await corpusRows()).filter((_, i) => i % 10 === 0),
    params: LogisticRegressionParamsSchema.parse({
      hashBits: 14,
      epochs: 3,
      threshold: options.threshold ?? 0.5,
    }),
    seed: options.seed ?? 1,
    owner: 'test',
    key: uniqueName('run'),
  });
}
