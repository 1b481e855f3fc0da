import { z } from 'zod';

/** One e-mail as the catalog stores it and as a model sees it. */
export const EmailRowSchema = z.object({
  /** `<group>/<file id>`, unique within the corpus. */
  id: z.string().min(1),
  group: z.string().min(1),
  label: z.enum(['ham', 'spam']),
  /** ISO 8601, after repair; the split orders rows by it. */
  date: z.string().datetime(),
  subject: z.string(),
  from: z.string(),
  body: z.string(),
  sizeBytes: z.number().int().nonnegative(),
});
export type EmailRow = z.infer<typeof EmailRowSchema>;

/** The fields a model reads at prediction time (the feature schema of every spam model). */
export const EmailFeaturesSchema = EmailRowSchema.pick({ subject: true, from: true, body: true });
export type EmailFeatures = z.infer<typeof EmailFeaturesSchema>;

export const EMAIL_FEATURE_SCHEMA = {
  subject: 'string',
  from: 'string',
  body: 'string',
} as const;

/** Rows in a stable order: by date, then id. Snapshots and splits depend on it. */
export function compareRows(a: EmailRow, b: EmailRow): number {
  if (a.date !== b.date) return a.date < b.date ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** JSON Lines with keys in schema order, so the same rows always give the same bytes. */
export function encodeRows(rows: readonly EmailRow[]): Buffer {
  const lines = rows.map((row) =>
    JSON.stringify({
      id: row.id,
      group: row.group,
      label: row.label,
      date: row.date,
      subject: row.subject,
      from: row.from,
      body: row.body,
      sizeBytes: row.sizeBytes,
    }),
  );
  return Buffer.from(lines.join('\n') + (lines.length > 0 ? '\n' : ''), 'utf8');
}

export function decodeRows(bytes: Buffer): EmailRow[] {
  const text = bytes.toString('utf8');
  const rows: EmailRow[] = [];
  for (const line of text.split('\n')) {
    if (line.length > 0) rows.push(JSON.parse(line) as EmailRow);
  }
  return rows;
}
