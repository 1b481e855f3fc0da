import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { isExecutable } from './executables.js';

const run = promisify(execFile);
const SUPERUSER = 'mlops';

/** Absolute paths of the three server programs, all from one directory. */
export interface PostgresBinaries {
  initdb: string;
  pgCtl: string;
  postgres: string;
}

/** A running throwaway server; `url` connects as superuser `mlops` with no password. */
export interface PostgresServer {
  /** postgres://mlops@127.0.0.1:<port>/postgres */
  url: string;
  port: number;
  dataDir: string;
  /** Runs CREATE DATABASE `name` and returns the url of the new database. */
  createDatabase(name: string): Promise<string>;
  /** Fast shutdown (cuts open sessions), then deletes the data dir if startPostgres made it. */
  stop(): Promise<void>;
}

/**
 * Finds initdb, pg_ctl and postgres side by side: first on PATH, then in
 * /usr/lib/postgresql/<highest version>/bin, where Debian keeps them. Null when absent.
 */
export function findPostgresBinaries(): PostgresBinaries | null {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  const versions = readdir('/usr/lib/postgresql').filter((v) => /^\d+(\.\d+)?$/.test(v));
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (newest) dirs.push(`/usr/lib/postgresql/${newest}/bin`);
  // All from one directory: initdb of one major version makes clusters others cannot run.
  for (const dir of dirs) {
    const [initdb = '', pgCtl = '', postgres = ''] = ['initdb', 'pg_ctl', 'postgres'].map((n) =>
      path.join(dir, n),
    );
    if ([initdb, pgCtl, postgres].every(isExecutable)) return { initdb, pgCtl, postgres };
  }
  return null;
}

/**
 * Starts a server on 127.0.0.1, running initdb first unless `dataDir` already holds a cluster.
 * `port` defaults to a free one; `dataDir` to a fresh temp dir. As root, the server runs as
 * OS user `postgres` (or `mlops-pg`, created if needed), since PostgreSQL refuses root.
 */
export async function startPostgres(
  options: { port?: number; dataDir?: string } = {},
): Promise<PostgresServer> {
  const bin = findPostgresBinaries();
  if (!bin) {
    throw new Error(
      'PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or in ' +
        '/usr/lib/postgresql/*/bin; install the postgresql package: apt-get install -y postgresql',
    );
  }
  const ownsDir = options.dataDir === undefined;
  const dataDir = path.resolve(options.dataDir ?? fs.mkdtempSync(`${os.tmpdir()}/mlops-pg-`));
  const port = options.port ?? (await freePort());
  const user = process.getuid?.() === 0 ? await serverUser() : undefined;
  const as = (cmd: string, args: string[]) =>
    // cwd '/': the server user may not be able to enter ours, and initdb warns about it.
    user ? run('runuser', ['-u', user, '--', cmd, ...args], { cwd: '/' }) : run(cmd, args);
  const log = path.join(dataDir, 'server.log');
  try {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    if (user) await run('chown', ['-R', user, dataDir]);
    if (!fs.existsSync(path.join(dataDir, 'PG_VERSION'))) {
      const flags = `-A trust -U ${SUPERUSER} --encoding UTF8 --no-locale --no-sync`.split(' ');
      await as(bin.initdb, ['-D', dataDir, ...flags]).catch((e) => {
        const who = user ? ` (as OS user ${user}, who must be able to reach that path)` : '';
        throw new Error(`initdb failed in ${dataDir}${who}: ${output(e)}`);
      });
    }
    // Socket in the data dir: /var/run/postgresql may be missing or not writable by `user`.
    const serverArgs =
      `-p ${port} -c listen_addresses=127.0.0.1 -k ${shellQuote(dataDir)} ` +
      '-c fsync=off -c max_connections=200';
    const start = ['-D', dataDir, '-w', '-t', '60', '-o', serverArgs, '-l', log, 'start'];
    await as(bin.pgCtl, start).catch(async (e) => {
      // A timed-out start may leave a postmaster behind; it must not outlive the data dir.
      await as(bin.pgCtl, ['-D', dataDir, '-m', 'immediate', 'stop']).catch(() => undefined);
      throw new Error(
        `PostgreSQL did not start on port ${port}: ${output(e)}\n` +
          `--- last lines of server.log ---\n${tail(log)}`,
      );
    });
  } catch (error) {
    if (ownsDir) fs.rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }

  const urlFor = (db: string) =>
    `postgres://${SUPERUSER}@127.0.0.1:${port}/${encodeURIComponent(db)}`;
  let stopping: Promise<void> | undefined;
  return {
    url: urlFor('postgres'),
    port,
    dataDir,
    async createDatabase(name) {
      const client = new pg.Client({ connectionString: urlFor('postgres') });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
      } finally {
        await client.end();
      }
      return urlFor(name);
    },
    stop() {
      // Memoised: a second stop() (say, afterAll after an explicit one) must not fail.
      stopping ??= as(bin.pgCtl, ['-D', dataDir, '-m', 'fast', '-w', 'stop']).then(
        () => void (ownsDir && fs.rmSync(dataDir, { recursive: true, force: true })),
        (e) => Promise.reject(new Error(`pg_ctl stop failed for ${dataDir}: ${output(e)}`)),
      );
      return stopping;
    },
  };
}

/** A port the kernel says is free; something else may take it before postgres binds (rare). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) =>
    server.once('error', reject).listen(0, '127.0.0.1', () => resolve()),
  );
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function serverUser(): Promise<string> {
  const exists = (name: string) =>
    run('id', ['-u', name]).then(
      () => true,
      () => false,
    );
  if (await exists('postgres')) return 'postgres';
  if (await exists('mlops-pg')) return 'mlops-pg';
  const args = '--system --no-create-home --shell /usr/sbin/nologin mlops-pg'.split(' ');
  await run('useradd', args).catch(async (e) => {
    // A parallel test worker may have created it a moment ago; only a real failure counts.
    if (await exists('mlops-pg')) return;
    throw new Error(`cannot create OS user mlops-pg to run PostgreSQL as: ${output(e)}`);
  });
  return 'mlops-pg';
}

function readdir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** pg_ctl hands `-o` to /bin/sh, so paths inside it need shell quoting. */
function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** The useful part of a failed execFile: its stderr, else stdout, else the message. */
function output(error: unknown): string {
  const e = error as { stderr?: string; stdout?: string; message?: string };
  return (e.stderr?.trim() || e.stdout?.trim() || e.message || String(error)).trim();
}

function tail(file: string, lines = 20): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no server log was written)';
  }
}
