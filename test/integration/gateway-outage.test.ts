import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileArtifactStore } from '../../lib/artifacts/store.js';
import { openPostgres, type Db } from '../../lib/db/db.js';
import { migrate } from '../../lib/db/migrate.js';
import { startPostgres } from '../../lib/dev/postgres-server.js';
import { createLogger } from '../../lib/logger.js';
import { versionStats } from '../../lib/serving/metric-store.js';
import { writeRoute } from '../../lib/serving/route-store.js';
import { Gateway } from '../../serving/gateway.js';
import { scratchDir, uniqueName } from '../helpers/env.js';
import { corpusRows, registerTrainedVersion } from '../helpers/models.js';

describe('gateway while PostgreSQL is unreachable', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  });

  /**
   * A gateway serving one real model from a PostgreSQL server of its own, so that stopping
   * that server does not disturb other test files. `server` is replaced on restart.
   */
  const gatewayOnItsOwnPostgres = async (options: {
    flushIntervalMs: number;
    maxBufferedWindows?: number;
  }) => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-outage-pg-'));
    const setup = { dataDir, server: await startPostgres({ dataDir }), port: 0 };
    setup.port = setup.server.port;
    cleanups.push(async () => {
      await setup.server.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    });
    const db: Db = openPostgres(await setup.server.createDatabase('outage'));
    cleanups.push(() => db.close());
    await migrate(db);
    const store = new FileArtifactStore(path.join(scratchDir(), 'artifacts'));
    const model = uniqueName('outage');
    const { version } = await registerTrainedVersion(db, store, model);
    const gateway = new Gateway({
      db,
      store,
      logger: createLogger('silent'),
      pollIntervalMs: 100,
      ...options,
    });
    await gateway.start();
    cleanups.push(() => gateway.stop());
    await writeRoute(
      db,
      {
        model,
        generation: 1,
        weights: { [version]: 10_000 },
        shadow: null,
        warm: [],
        sticky: false,
      },
      'test',
    );
    await expect.poll(() => gateway.servedGeneration(model), { timeout: 5000 }).toBe(1);
    const [row] = await corpusRows();
    const predict = () =>
      gateway.app.inject({
        method: 'POST',
        url: `/v1/models/${model}/predict`,
        payload: { input: { subject: row!.subject, from: row!.from, body: row!.body } },
      });
    return Object.assign(setup, { db, store, gateway, model, version, predict });
  };

  it('keeps serving its last route, buffers metric windows and the prediction log, and writes them once the database is back', async () => {
    const setup = await gatewayOnItsOwnPostgres({ flushIntervalMs: 200 });
    const { db, gateway, model, version, predict } = setup;
    const feedback = (predictionId: string, label: 'spam' | 'ham') =>
      gateway.app.inject({
        method: 'POST',
        url: '/v1/feedback',
        payload: { predictionId, label },
      });
    // A prediction written before the outage: any replica may take its feedback, so only the
    // database can decide it.
    const before = (await predict()).json<{ predictionId: string }>().predictionId;
    await expect
      .poll(
        async () =>
          (await db.query('SELECT 1 FROM predictions WHERE id = $1', [before])).rows.length,
      )
      .toBe(1);

    await setup.server.stop();
    const refused = await feedback(before, 'spam');
    expect(refused.statusCode, refused.body).toBe(503);
    expect(refused.json().error.message).toMatch(/cannot reach the database; retry in a second/);
    let served = 1;
    const ids: string[] = [];
    const outageEnds = Date.now() + 3000;
    while (Date.now() < outageEnds) {
      const response = await predict();
      expect(response.statusCode).toBe(200);
      ids.push(response.json<{ predictionId: string }>().predictionId);
      served += 1;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(gateway.lostWindowCount).toBe(0);
    // Feedback during the outage on a prediction not written yet: this replica alone knows it.
    const taken = await feedback(ids[0]!, 'ham');
    expect(taken.statusCode, taken.body).toBe(200);

    setup.server = await startPostgres({ dataDir: setup.dataDir, port: setup.port });
    await expect
      .poll(
        async () =>
          (
            await versionStats(db, model, version, 0, Date.now() + 1000).catch(() => ({
              requests: -1,
            }))
          ).requests,
        { timeout: 15_000, interval: 300 },
      )
      .toBe(served);
    const { rows } = await db.query<{ id: string; feedback_label: string | null }>(
      'SELECT id, feedback_label FROM predictions WHERE model = $1 ORDER BY id',
      [model],
    );
    expect(rows.map((row) => row.id)).toEqual([before, ...ids].sort());
    expect(rows.find((row) => row.id === ids[0])!.feedback_label).toBe('ham');
    expect(rows.filter((row) => row.feedback_label !== null)).toHaveLength(1);
    // The refused feedback, retried once the database is back, counts once.
    expect((await feedback(before, 'spam')).statusCode).toBe(200);
    await expect
      .poll(async () => (await versionStats(db, model, version, 0, Date.now() + 1000)).feedback, {
        timeout: 5000,
      })
      .toBe(2);
  });

  it('tells feedback to retry, not that it is unknown, for what another replica made during an outage and has not written yet', async () => {
    // The replica that predicts writes seldom (every 2 s); the one taking feedback polls
    // often, and allows 2.5 s for what was made during an outage to be written after it.
    const setup = await gatewayOnItsOwnPostgres({ flushIntervalMs: 2000 });
    const { db, store, predict } = setup;
    const other = new Gateway({
      db,
      store,
      logger: createLogger('silent'),
      pollIntervalMs: 100,
      unwrittenGraceMs: 2500,
    });
    await other.start();
    cleanups.push(() => other.stop());

    await setup.server.stop();
    const { predictionId } = (await predict()).json<{ predictionId: string }>();
    // Older than the grace by the time the database is back.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    setup.server = await startPostgres({ dataDir: setup.dataDir, port: setup.port });

    const statuses: number[] = [];
    const messages = new Set<string>();
    for (const deadline = Date.now() + 15_000; Date.now() < deadline;) {
      const response = await other.app.inject({
        method: 'POST',
        url: '/v1/feedback',
        payload: { predictionId, label: 'ham' },
      });
      statuses.push(response.statusCode);
      if (response.statusCode === 200) break;
      messages.add(response.json<{ error: { message: string } }>().error.message);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(statuses.at(-1)).toBe(200);
    expect(new Set(statuses.slice(0, -1))).toEqual(new Set([503]));
    expect([...messages].join('\n')).toMatch(/made during an outage of the database that ended/);
  });

  it('counts the windows it had to drop when the buffer is full', async () => {
    const setup = await gatewayOnItsOwnPostgres({ flushIntervalMs: 100, maxBufferedWindows: 2 });
    const { gateway, predict } = setup;

    await setup.server.stop();
    const outageEnds = Date.now() + 4500;
    while (Date.now() < outageEnds) {
      await predict();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    // About one window a second for ~4.5 s with room for 2: at least two were dropped, and counted.
    expect(gateway.lostWindowCount).toBeGreaterThanOrEqual(2);
    const metrics = await gateway.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(
      new RegExp(`mlops_gateway_metric_windows_lost_total ${gateway.lostWindowCount}`),
    );
  });
});
