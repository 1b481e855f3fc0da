import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SEARCH_ATTRIBUTE_NAMES } from '../temporal/conventions.js';
import { isExecutable } from './executables.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** `temporal` on PATH, else the copy the bootstrap installs in `.tools/bin`; null when neither. */
export function findTemporalCli(): string | null {
  const candidates = [
    ...(process.env.PATH ?? '').split(path.delimiter).map((dir) => path.join(dir, 'temporal')),
    path.join(REPO_ROOT, '.tools', 'bin', 'temporal'),
  ];
  return candidates.find((file) => isExecutable(file)) ?? null;
}

export interface TemporalDevServer {
  address: string;
  uiUrl: string | null;
  process: ChildProcess;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts `temporal server start-dev` as a child process with its history in
 * `dbFile` (so it survives a restart), the Web UI on `uiPort` (0 = no UI) and our
 * search attributes registered, then waits until the frontend accepts connections.
 */
export async function startTemporalDevServer(options: {
  dbFile: string;
  port?: number;
  uiPort?: number;
  namespace?: string;
  logFile?: string;
  startTimeoutMs?: number;
}): Promise<TemporalDevServer> {
  const cli = findTemporalCli();
  if (!cli) {
    throw new Error(
      'temporal CLI not found on PATH or in .tools/bin; run `npm run bootstrap` to install it',
    );
  }
  const port = options.port ?? (await freePort());
  const uiPort = options.uiPort ?? 8233;
  fs.mkdirSync(path.dirname(path.resolve(options.dbFile)), { recursive: true });

  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--db-filename',
    options.dbFile,
    '--namespace',
    options.namespace ?? 'default',
    '--log-level',
    'warn',
    ...SEARCH_ATTRIBUTE_NAMES.flatMap((name) => ['--search-attribute', `${name}=Keyword`]),
    ...(uiPort > 0 ? ['--ui-port', String(uiPort)] : ['--headless']),
  ];
  // Something else on these ports would answer in our place: refuse instead of attaching to it.
  for (const [what, taken] of [
    ['Temporal', port],
    ['Temporal UI', uiPort],
  ] as const) {
    if (taken > 0 && (await isListening(taken))) {
      throw new PortInUseError(
        `port ${taken} (${what}) is already in use on 127.0.0.1; stop what holds it, or choose another port (TEMPORAL_ADDRESS, --ui-port)`,
      );
    }
  }
  const log = fs.openSync(options.logFile ?? `${options.dbFile}.log`, 'a');
  const child = spawn(cli, args, { stdio: ['ignore', log, log], detached: false });
  fs.closeSync(log);

  const address = `127.0.0.1:${port}`;
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const ready = await Promise.race([
    waitForPort(port, options.startTimeoutMs ?? 60_000).then(() => true),
    exited.then(() => false),
  ]);
  if (!ready) {
    throw new Error(
      `temporal dev server exited during start; see ${options.logFile ?? `${options.dbFile}.log`}`,
    );
  }
  // A crash of this process must not leave the server running without its parent.
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));

  return {
    address,
    uiUrl: uiPort > 0 ? `http://127.0.0.1:${uiPort}` : null,
    process: child,
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** The dev server could not start because its port is taken. */
export class PortInUseError extends Error {
  override readonly name = 'PortInUseError';
}

/**
 * Refuses, before anything starts, when one of `ports` already has a listener on 127.0.0.1,
 * naming the port, what wanted it and the setting that moves it. Port 0 (any) is skipped.
 */
export async function refuseTakenPorts(
  ports: Array<{ what: string; port: number; setting: string }>,
): Promise<void> {
  for (const { what, port, setting } of ports)
    if (port > 0 && (await isListening(port)))
      throw new PortInUseError(
        `port ${port} (${what}) is already in use on 127.0.0.1; stop what holds it, or set ${setting} to another port`,
      );
}

function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await isListening(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`temporal dev server did not open port ${port} within ${timeoutMs} ms`);
}
