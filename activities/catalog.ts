import { EMAIL_FEATURE_SCHEMA, encodeRows } from '../lib/corpus/email-row.js';
import { encodeSnapshot, splitRows } from '../lib/corpus/snapshot.js';
import { importSpamAssassin, SPAM_ASSASSIN_SOURCE } from '../lib/corpus/spam-assassin.js';
import { recordDatasetVersion, recordSnapshot } from '../lib/registry/catalog.js';
import type { SplitSpec } from '../lib/spec/training-spec.js';
import { activityLogFields, type ActivityDeps } from './deps.js';
import { mapFailures } from './failures.js';
import { readDatasetRows } from './reads.js';

export interface DatasetVersionRef {
  dataset: string;
  digest: string;
  uri: string;
  rowCount: number;
  rowsDropped: number;
  repaired: number;
}

export interface SnapshotRef {
  digest: string;
  uri: string;
  trainRows: number;
  evalRows: number;
  /** ISO date of the newest training row and the oldest evaluation row. */
  trainUntil: string | null;
  evalFrom: string | null;
}

export function catalogActivities(deps: ActivityDeps) {
  return {
    /**
     * Imports a catalogued source into a content-addressed dataset version and records it
     * in the catalog with its import report. Same rows, same digest: safe to repeat.
     */
    async importDataset(input: { source: 'spam-assassin' }): Promise<DatasetVersionRef> {
      return mapFailures(async () => {
        const started = Date.now();
        const { rows, report } = await importSpamAssassin();
        const artifact = await deps.store.put(encodeRows(rows));
        deps.decoded.set(artifact.digest, rows);
        await recordDatasetVersion(
          deps.db,
          {
            name: input.source,
            source: SPAM_ASSASSIN_SOURCE,
            owner: 'ml-platform',
            description: 'SpamAssassin public mail corpus (2002), ham and spam in five groups',
            // Headers and bodies carry real people's e-mail addresses.
            classification: 'personal',
            schema: {
              id: 'string',
              group: 'string',
              label: 'ham|spam',
              date: 'iso8601',
              ...EMAIL_FEATURE_SCHEMA,
              sizeBytes: 'integer',
            },
          },
          {
            digest: artifact.digest,
            uri: artifact.uri,
            rowCount: rows.length,
            report: { ...report },
          },
        );
        deps.logger.info(
          {
            ...activityLogFields(),
            digest: artifact.digest,
            rows: rows.length,
            durationMs: Date.now() - started,
          },
          'dataset imported',
        );
        return {
          dataset: input.source,
          digest: artifact.digest,
          uri: artifact.uri,
          rowCount: rows.length,
          rowsDropped: report.rowsDropped,
          repaired: Object.values(report.repaired).reduce((sum, count) => sum + count, 0),
        };
      });
    },

    /** Cuts a snapshot (the exact rows used) out of a dataset version by date. Idempotent. */
    async createSnapshot(input: {
      dataset: string;
      datasetDigest: string;
      split: SplitSpec;
      maxRows?: number;
    }): Promise<SnapshotRef> {
      return mapFailures(async () => {
        const rows = await readDatasetRows(deps, input.datasetDigest);
        const split = splitRows(rows, input.split, input.maxRows);
        const artifact = await deps.store.put(encodeSnapshot(split));
        deps.decoded.set(artifact.digest, split);
        await recordSnapshot(deps.db, {
          digest: artifact.digest,
          dataset: input.dataset,
          datasetDigest: input.datasetDigest,
          uri: artifact.uri,
          split: { ...input.split, maxRows: input.maxRows ?? null },
          trainRows: split.train.length,
          evalRows: split.eval.length,
        });
        return {
          digest: artifact.digest,
          uri: artifact.uri,
          trainRows: split.train.length,
          evalRows: split.eval.length,
          trainUntil: split.train.at(-1)?.date ?? null,
          evalFrom: split.eval[0]?.date ?? null,
        };
      });
    },
  };
}
