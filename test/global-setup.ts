import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startPostgres, type PostgresServer } from '../lib/dev/postgres-server.js';
import { startTemporalDevServer, type TemporalDevServer } from '../lib/dev/temporal-server.js';

let temporal: TemporalDevServer | undefined;
let postgres: PostgresServer | undefined;
let testDir: string | undefined;

/** Starts a real Temporal dev server and a real PostgreSQL server once per test run. */
export async function setup(project: TestProject): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-test-'));
  testDir = dir;
  [temporal, postgres] = await Promise.all([
    startTemporalDevServer({ dbFile: path.join(dir, 'temporal.db'), uiPort: 0 }),
    startPostgres(),
  ]);
  project.provide('temporalAddress', temporal.address);
  project.provide('postgresUrl', postgres.url);
  project.provide('testDir', dir);
}

export async function teardown(): Promise<void> {
  await Promise.all([temporal?.stop(), postgres?.stop()]);
  // Artifacts and databases of a run are hundreds of MB; a shared machine keeps none of them.
  if (testDir && !process.env.MLOPS_KEEP_TEST_DATA)
    fs.rmSync(testDir, { recursive: true, force: true });
}

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    postgresUrl: string;
    testDir: string;
  }
}
