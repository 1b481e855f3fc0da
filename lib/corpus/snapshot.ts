import type { SplitSpec } from '../spec/training-spec.js';
import { encodeRows, type EmailRow } from './email-row.js';

/** The rows of one snapshot, already split. Train rows are all older than eval rows. */
export interface SplitRows {
  train: EmailRow[];
  eval: EmailRow[];
}

/**
 * Chooses the exact rows of a snapshot from a dataset version's rows (sorted by date,
 * then id): an even sample down to `maxRows` when given, then the oldest `trainFraction`
 * for training and the newest `evalFraction` for evaluation. Deterministic.
 */
export function splitRows(
  rows: readonly EmailRow[],
  split: SplitSpec,
  maxRows?: number,
): SplitRows {
  const sampled =
    maxRows !== undefined && rows.length > maxRows ? evenSample(rows, maxRows) : [...rows];
  const n = sampled.length;
  const evalStart = n - Math.round(n * split.evalFraction);
  const trainEnd = Math.min(evalStart, Math.round(n * split.trainFraction));
  return { train: sampled.slice(0, trainEnd), eval: sampled.slice(evalStart) };
}

function evenSample(rows: readonly EmailRow[], count: number): EmailRow[] {
  const picked: EmailRow[] = [];
  for (let i = 0; i < count; i++) picked.push(rows[Math.floor((i * rows.length) / count)]!);
  return picked;
}

/**
 * Snapshot bytes: JSON Lines, each row with a leading `split` field ("train" or "eval"),
 * keys in a fixed order, so the same rows always give the same bytes and digest. External
 * trainers read this file directly.
 */
export function encodeSnapshot(rows: SplitRows): Buffer {
  const tag = (split: 'train' | 'eval', part: EmailRow[]): string =>
    encodeRows(part).toString('utf8').replace(/^\{/gm, `{"split":"${split}",`);
  return Buffer.from(tag('train', rows.train) + tag('eval', rows.eval), 'utf8');
}

export function decodeSnapshot(bytes: Buffer): SplitRows {
  const result: SplitRows = { train: [], eval: [] };
  for (const line of bytes.toString('utf8').split('\n')) {
    if (line.length === 0) continue;
    const { split, ...row } = JSON.parse(line) as EmailRow & { split: 'train' | 'eval' };
    result[split].push(row);
  }
  return result;
}
