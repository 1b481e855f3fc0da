#!/usr/bin/env node
// Makes a fresh clone runnable: npm packages, the Temporal CLI, with --postgres a
// PostgreSQL server package, and with --bench the load generator the benchmarks use. Each
// step is skipped when its result is already present.
// Plain Node with no dependencies, because it runs before `npm ci`.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensurePostgresInstalled } from './ensure-postgres.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';
const VEGETA_MODULE = 'github.com/tsenart/vegeta/v12@v12.13.0';

function say(message) {
  process.stderr.write(`bootstrap: ${message}\n`);
}

function installNpmPackages() {
  const lock = path.join(root, 'package-lock.json');
  const installed = path.join(root, 'node_modules', '.package-lock.json');
  if (fs.existsSync(installed) && fs.statSync(installed).mtimeMs >= fs.statSync(lock).mtimeMs)
    return;
  say('installing npm packages (npm ci)');
  const result = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (result.status !== 0) throw new Error('npm ci failed; see the output above');
}

function findOnPath(name) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // not in this directory
    }
  }
  return null;
}

function findGo() {
  return (
    findOnPath('go') ?? (fs.existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : null)
  );
}

/** Builds `module` with `go install` into .tools/bin unless `name` is there or on PATH. */
function goInstall(name, module, why) {
  const local = path.join(root, '.tools', 'bin', name);
  if (findOnPath(name) || fs.existsSync(local)) return;
  const go = findGo();
  if (!go) {
    throw new Error(
      `${name} is missing and Go is not installed to build it; install Go, or put a \`${name}\` binary on PATH`,
    );
  }
  say(`installing ${name}, ${why} (go install ${module})`);
  fs.mkdirSync(path.dirname(local), { recursive: true });
  execFileSync(go, ['install', module], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, GOBIN: path.dirname(local) },
  });
}

// The compose test parses docker-compose.yml with whatever compose this machine has. The
// docker client may come without its compose plugin; Debian's docker-compose parses it too.
// Best effort: without it, that one test is skipped.
function installComposeChecker() {
  if (!findOnPath('docker') || findOnPath('docker-compose')) return;
  if (spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0) return;
  if (process.getuid?.() !== 0 || !findOnPath('apt-get')) return;
  say('installing docker-compose (Debian) so the compose file can be checked');
  const result = spawnSync(
    'sh',
    [
      '-c',
      'apt-get install -y -q docker-compose || (apt-get update -q && apt-get install -y -q docker-compose)',
    ],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    },
  );
  if (result.status !== 0)
    say('docker-compose could not be installed; the compose config test will be skipped');
}

try {
  installNpmPackages();
  goInstall('temporal', TEMPORAL_CLI_MODULE, 'the Temporal CLI; this takes a few minutes once');
  // The benchmarks' HTTP load generator (bench/load.ts), a Go program, so that it costs the
  // machine little next to the servers it measures.
  if (process.argv.includes('--bench'))
    goInstall('vegeta', VEGETA_MODULE, 'the load generator of bench/');
  if (process.argv.includes('--postgres')) {
    if (!(await ensurePostgresInstalled())) {
      throw new Error('PostgreSQL is required for the test suite and could not be installed');
    }
    installComposeChecker();
  }
} catch (error) {
  say(`failed: ${error.message}`);
  process.exit(1);
}
