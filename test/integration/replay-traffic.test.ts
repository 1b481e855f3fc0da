import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { heldOutEmails, replayTraffic } from '../../client/replay.js';
import { FileArtifactStore } from '../../lib/artifacts/store.js';
import type { Db } from '../../lib/db/db.js';
import { versionStats } from '../../lib/serving/metric-store.js';
import { writeRoute } from '../../lib/serving/route-store.js';
import type { Gateway } from '../../serving/gateway.js';
import { freshDatabase, scratchDir, uniqueName } from '../helpers/env.js';
import { registerTrainedVersion } from '../helpers/models.js';
import { soleRoute, startQuickGateway } from '../helpers/release.js';

describe('mlops replay', () => {
  let db: Db;
  let store: FileArtifactStore;
  let gateway: Gateway;

  beforeAll(async () => {
    db = await freshDatabase();
    store = new FileArtifactStore(path.join(scratchDir(), 'artifacts'));
    gateway = await startQuickGateway(db, store);
  });
  afterAll(async () => {
    await gateway?.stop();
    await db?.close();
  });

  it('sends N a second for D seconds, then each true label as feedback, all counted once', async () => {
    const model = uniqueName('replay');
    const v1 = await registerTrainedVersion(db, store, model, { seed: 1 });
    await writeRoute(db, soleRoute(model, v1.version), 'test');
    await expect.poll(() => gateway.servedGeneration(model), { timeout: 5000 }).toBe(1);
    const url = await gateway.app.listen({ port: 0, host: '127.0.0.1' });

    const summary = await replayTraffic(
      { gatewayUrl: url, model, rate: 25, durationMs: 2000, labelsAfterSeconds: 0.2 },
      await heldOutEmails(),
    );

    expect(summary).toMatchObject({
      sent: 50,
      answered: 50,
      errors: 0,
      feedbackSent: 50,
      byVersion: { [v1.version]: 50 },
    });
    await expect
      .poll(async () => {
        const stats = await versionStats(db, model, v1.version, 0, Date.now() + 1000);
        return [stats.requests, stats.feedback];
      })
      .toEqual([50, 50]);
  });
});
