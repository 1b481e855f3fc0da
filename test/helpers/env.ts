import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import {
  bundleWorkflowCode,
  DefaultLogger,
  NativeConnection,
  Runtime,
  type Worker,
} from '@temporalio/worker';
import pg from 'pg';
import { inject } from 'vitest';
import type { SlackNoticeSettings } from '../../activities/notices.js';
import { FileArtifactStore } from '../../lib/artifacts/store.js';
import { openPglite, openPostgres, type Db } from '../../lib/db/db.js';
import { migrate } from '../../lib/db/migrate.js';
import { createLogger } from '../../lib/logger.js';
import { createTrainingWorker, WORKFLOWS_PATH } from '../../workers/training-worker.js';

// Test output shows only the SDK's warnings; the process may already have a runtime.
try {
  Runtime.install({ logger: new DefaultLogger('WARN') });
} catch {
  // installed by an earlier test file in this process
}

export const uniqueName = (prefix: string): string => `${prefix}-${randomBytes(4).toString('hex')}`;

/** A fresh, migrated database on the shared PostgreSQL server, or a fresh PGlite directory. */
export async function freshDatabase(kind: 'postgres' | 'pglite' = 'postgres'): Promise<Db> {
  if (kind === 'pglite') {
    const db = await openPglite(path.join(scratchDir(), uniqueName('pglite')));
    await migrate(db);
    return db;
  }
  const db = openPostgres(await freshPostgresUrl(), 60);
  await migrate(db);
  return db;
}

/** The URL of a new, empty database on the shared PostgreSQL server. */
export async function freshPostgresUrl(): Promise<string> {
  const name = uniqueName('t').replace('-', '_');
  const admin = new pg.Client({ connectionString: inject('postgresUrl') });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  return inject('postgresUrl').replace(/\/[^/]*$/, `/${name}`);
}

export function scratchDir(): string {
  const dir = path.join(inject('testDir'), uniqueName('scratch'));
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

export async function temporalClient(): Promise<Client> {
  const connection = await Connection.connect({ address: inject('temporalAddress') });
  return new Client({ connection });
}

let bundle: Promise<{ code: string }> | undefined;
/** The workflow bundle, built once per test file. */
export function workflowBundle(): Promise<{ code: string }> {
  bundle ??= bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger });
  return bundle;
}

const quiet = (): void => undefined;
const quietLogger = {
  log: quiet,
  trace: quiet,
  debug: quiet,
  info: quiet,
  warn: quiet,
  error: quiet,
};

export interface TestWorker {
  worker: Worker;
  taskQueue: string;
  store: FileArtifactStore;
  dataDir: string;
  stop(): Promise<void>;
}

/** A real worker on its own task queue, polling the shared dev server until stopped. */
export async function startTestWorker(options: {
  db: Db;
  taskQueue?: string;
  dataDir?: string;
  lockFilePath?: string;
  slack?: SlackNoticeSettings;
}): Promise<TestWorker> {
  const dataDir = options.dataDir ?? scratchDir();
  const taskQueue = options.taskQueue ?? uniqueName('queue');
  const connection = await NativeConnection.connect({ address: inject('temporalAddress') });
  const store = new FileArtifactStore(path.join(dataDir, 'artifacts'));
  const worker = await createTrainingWorker({
    connection,
    namespace: 'default',
    taskQueue,
    db: options.db,
    store,
    logger: createLogger('silent'),
    dataDir,
    workflowBundle: await workflowBundle(),
    lockFilePath: options.lockFilePath,
    codeRevision: 'test',
    shutdownGraceTime: '2s',
    slack: options.slack ?? null,
  });
  const running = worker.run();
  return {
    worker,
    taskQueue,
    store,
    dataDir,
    async stop() {
      worker.shutdown();
      await running;
      await connection.close();
    },
  };
}
