import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';

/** The part of a connection that runs SQL: a pool, a transaction, or PGlite. */
export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: R[] }>;
}

/**
 * One database handle for the whole process, the same SQL whether it is a PostgreSQL
 * server (through `pg`) or the embedded PGlite used by `mlops dev`.
 */
export interface Db extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** Runs `fn` in one transaction; commits when it resolves, rolls back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

// int8 (counts, bigserial ids) arrive as numbers; our values stay far below 2^53.
pg.types.setTypeParser(20, (value) => Number(value));

/** Opens a pool on a PostgreSQL server. */
export function openPostgres(url: string, maxConnections = 10): Db {
  // Bounded waits: a server that is down must surface as an error, not a hang.
  const pool = new pg.Pool({
    connectionString: url,
    max: maxConnections,
    connectionTimeoutMillis: 5000,
    query_timeout: 30_000,
  });
  // An idle client losing its server must not crash the process; the next query reports it.
  pool.on('error', () => undefined);
  return {
    kind: 'postgres',
    query: async <R>(sql: string, params?: unknown[]) =>
      (await pool.query(sql, params)) as unknown as { rows: R[] },
    async transaction(fn) {
      const client = await pool.connect();
      // A checked-out client whose server goes away emits 'error'; its pending query
      // rejects anyway, so the event only needs a listener to not crash the process.
      const ignore = (): void => undefined;
      client.on('error', ignore);
      let broken = false;
      try {
        await client.query('BEGIN');
        const result = await fn({
          query: async <R>(sql: string, params?: unknown[]) =>
            (await client.query(sql, params)) as unknown as { rows: R[] },
        });
        await client.query('COMMIT');
        return result;
      } catch (error) {
        // A connection that cannot even roll back is broken: destroy it, do not pool it.
        broken = await client.query('ROLLBACK').then(
          () => false,
          () => true,
        );
        throw error;
      } finally {
        client.off('error', ignore);
        client.release(broken);
      }
    },
    close: () => pool.end(),
  };
}

/** Opens (or creates) an embedded PGlite database stored in `dir`. One process at a time. */
export async function openPglite(dir: string): Promise<Db> {
  const { PGlite } = await import('@electric-sql/pglite');
  fs.mkdirSync(path.dirname(path.resolve(dir)), { recursive: true });
  const unlock = lockDirectory(dir);
  let lite;
  try {
    lite = await PGlite.create(dir);
  } catch (error) {
    unlock();
    throw error;
  }
  return {
    kind: 'pglite',
    query: (sql, params) => runLite(lite, sql, params),
    transaction: (fn) =>
      lite.transaction(async (tx) => fn({ query: (sql, params) => runLite(tx, sql, params) })),
    close: async () => {
      await lite.close();
      unlock();
    },
  };
}

/**
 * PGlite is one process's database: a second process opening the same directory would
 * write over the first. A lock file with the owner's pid refuses that; a lock left by a
 * process that no longer runs is taken over.
 */
/** Another running process holds the embedded database this one was told to open. */
export class DatabaseInUseError extends Error {
  override readonly name = 'DatabaseInUseError';
}

function lockDirectory(dir: string): () => void {
  const lockFile = `${path.resolve(dir)}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lockFile, String(process.pid), { flag: 'wx' });
      return () => fs.rmSync(lockFile, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(fs.readFileSync(lockFile, 'utf8'));
      if (isRunning(owner) && owner !== process.pid) {
        throw new DatabaseInUseError(
          `the embedded database in ${dir} is in use by process ${owner}; stop that process, or give this one its own MLOPS_HOME or a DATABASE_URL (a PostgreSQL server several processes can share)`,
          { cause: error },
        );
      }
      fs.rmSync(lockFile, { force: true });
    }
  }
  throw new Error(`cannot lock the embedded database in ${dir} (${lockFile})`);
}

function isRunning(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

interface LiteRunner {
  query<R>(sql: string, params?: unknown[]): Promise<{ rows: R[] }>;
  exec(sql: string): Promise<Array<{ rows: unknown[] }>>;
}

// Without parameters PGlite needs `exec` for several statements (a migration file); `pg`
// sends those as one simple query. Both give the rows of the last statement.
async function runLite<R>(
  lite: LiteRunner,
  sql: string,
  params?: unknown[],
): Promise<{ rows: R[] }> {
  if (params && params.length > 0) return lite.query<R>(sql, params);
  const results = await lite.exec(sql);
  return { rows: (results.at(-1)?.rows ?? []) as R[] };
}

/** `DATABASE_URL` when given, else PGlite under `<dataDir>/pglite`. */
export async function openDatabase(options: { url?: string; dataDir: string }): Promise<Db> {
  if (options.url) return openPostgres(options.url);
  return openPglite(path.join(options.dataDir, 'pglite'));
}
