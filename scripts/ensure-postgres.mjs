// Makes sure PostgreSQL server binaries exist, installing them with apt-get when run as root.
// Plain Node, no npm packages: it runs before `npm ci` on a fresh CI machine.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const INSTALL = 'apt-get update && apt-get install -y postgresql';

/**
 * Returns { initdb, pgCtl, postgres } from one directory, looking on PATH and then in
 * /usr/lib/postgresql/<highest version>/bin; null when absent. Mirrors findPostgresBinaries
 * in lib/dev/postgres-server.ts (this file cannot import TypeScript); keep the two in step.
 */
export function findPostgresBinaries() {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  let versions = [];
  try {
    versions = fs.readdirSync('/usr/lib/postgresql').filter((v) => /^\d+(\.\d+)?$/.test(v));
  } catch {
    // No Debian-style install; PATH is all there is.
  }
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (newest) dirs.push(`/usr/lib/postgresql/${newest}/bin`);
  for (const dir of dirs) {
    const [initdb, pgCtl, postgres] = ['initdb', 'pg_ctl', 'postgres'].map((n) =>
      path.join(dir, n),
    );
    if ([initdb, pgCtl, postgres].every(isExecutable)) return { initdb, pgCtl, postgres };
  }
  return null;
}

/**
 * Resolves to the binaries, running `apt-get update && apt-get install -y postgresql` first
 * when none are found and we are root. Resolves to null after printing why (not root, no
 * apt-get, or the install failed), so the caller decides whether that is fatal.
 */
export async function ensurePostgresInstalled() {
  const found = findPostgresBinaries();
  if (found) return found;
  if (process.getuid?.() !== 0) {
    console.error(
      'PostgreSQL is not installed (no initdb/pg_ctl/postgres on PATH or in ' +
        `/usr/lib/postgresql/*/bin). Install it, e.g.: sudo sh -c '${INSTALL}'`,
    );
    return null;
  }
  console.log(`PostgreSQL not found; installing it: ${INSTALL}`);
  // apt output stays captured so success prints one line; on failure its tail says why.
  const result = await sh(INSTALL, { ...process.env, DEBIAN_FRONTEND: 'noninteractive' });
  const binaries = result.code === 0 ? findPostgresBinaries() : null;
  if (!binaries) {
    const why =
      result.code === 0
        ? 'it finished, yet initdb/pg_ctl/postgres are still missing'
        : `exit code ${result.code}`;
    const tail = result.output.trimEnd().split('\n').slice(-15).join('\n');
    console.error(`Installing PostgreSQL failed (${why}); install postgresql by hand.\n${tail}`);
  }
  return binaries;
}

function isExecutable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function sh(command, env) {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', (error) => resolve({ code: -1, output: `${output}${error.message}` }));
    child.on('close', (code) => resolve({ code: code ?? -1, output }));
  });
}

// `node scripts/ensure-postgres.mjs` exits non-zero when PostgreSQL is still missing.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = (await ensurePostgresInstalled()) ? 0 : 1;
}
