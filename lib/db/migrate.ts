import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Db } from './db.js';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../db/migrations/', import.meta.url));

/** A stable 64-bit key for pg_advisory_xact_lock, shared by every process migrating this schema. */
const MIGRATION_LOCK_KEY = 7_020_611_001;

/**
 * Applies every `db/migrations/*.sql` not yet recorded, in file-name order, each once.
 * All pending files run in one transaction holding an advisory lock, so processes that
 * start together wait for each other instead of racing. Returns the ids applied now.
 */
export async function migrate(db: Db, dir: string = MIGRATIONS_DIR): Promise<string[]> {
  const files = fs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.sql'))
    .sort();

  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await tx.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      id text PRIMARY KEY,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const done = await tx.query<{ id: string }>('SELECT id FROM schema_migrations');
    const applied = new Set(done.rows.map((row) => row.id));

    const appliedNow: string[] = [];
    for (const file of files) {
      const id = path.basename(file, '.sql');
      if (applied.has(id)) continue;
      await tx.query(fs.readFileSync(path.join(dir, file), 'utf8'));
      await tx.query('INSERT INTO schema_migrations (id) VALUES ($1)', [id]);
      appliedNow.push(id);
    }
    return appliedNow;
  });
}
