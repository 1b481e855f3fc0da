import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { ArtifactStore } from '../../lib/artifacts/store.js';
import type { Db } from '../../lib/db/db.js';
import { setAlias } from '../../lib/registry/aliases.js';
import type { Route } from '../../lib/serving/route.js';
import { writeRoute } from '../../lib/serving/route-store.js';
import { Gateway, type GatewayOptions } from '../../serving/gateway.js';
import { createLogger } from '../../lib/logger.js';
import { uniqueName } from './env.js';
import { corpusRows, registerTrainedVersion } from './models.js';

/**
 * A model with v1 in production serving 100% through `gateway`, and a registered
 * candidate v2. A corrupt candidate gets bytes no other test shares: the store is
 * content-addressed, and corrupting a shared blob would break every test that uses it.
 */
export async function modelWithCandidate(
  db: Db,
  store: ArtifactStore,
  gateway: Gateway,
  options: { prefix?: string; corruptCandidate?: boolean } = {},
): Promise<{ model: string; stable: number; candidate: number }> {
  const model = uniqueName(options.prefix ?? 'rel');
  const v1 = await registerTrainedVersion(db, store, model, { seed: 1 });
  const v2 = await registerTrainedVersion(db, store, model, {
    seed: options.corruptCandidate ? 99 : 2,
  });
  await setAlias(
    db,
    { model, alias: 'production', version: v1.version },
    { actor: 'test', channel: 'system', reason: 'setup' },
  );
  await writeRoute(db, soleRoute(model, v1.version), 'setup');
  if (options.corruptCandidate) {
    const file = fileURLToPath(store.uriFor(v2.digest));
    fs.writeFileSync(file, Buffer.concat([fs.readFileSync(file), Buffer.from('!')]));
  }
  await expect.poll(() => gateway.servedGeneration(model), { timeout: 5000 }).toBe(1);
  return { model, stable: v1.version, candidate: v2.version };
}

/** Sends real e-mails to the gateway every 5 ms until the returned function is awaited. */
export function sendTraffic(gateway: Gateway, model: string): () => Promise<void> {
  let running = true;
  const loop = (async () => {
    const rows = await corpusRows();
    for (let i = 0; running; i++) {
      const row = rows[i % rows.length]!;
      await gateway.app
        .inject({
          method: 'POST',
          url: `/v1/models/${model}/predict`,
          payload: { input: { subject: row.subject, from: row.from, body: row.body } },
        })
        .catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  return async () => {
    running = false;
    await loop;
  };
}

/** A started gateway replica that polls routes and flushes windows quickly, for tests. */
export async function startQuickGateway(
  db: Db,
  store: ArtifactStore,
  options: Partial<GatewayOptions> = {},
): Promise<Gateway> {
  const gateway = new Gateway({
    db,
    store,
    logger: createLogger('silent'),
    pollIntervalMs: 100,
    flushIntervalMs: 200,
    ...options,
  });
  await gateway.start();
  return gateway;
}

/** A route giving one version all the traffic: no shadow, nothing warm, not sticky. */
export function soleRoute(model: string, version: number, generation = 1): Route {
  return {
    model,
    generation,
    weights: { [version]: 10_000 },
    shadow: null,
    warm: [],
    sticky: false,
  };
}

/** Makes `errorRate` of a version's answers (and shadow copies) fail, as an admin drill would. */
export async function injectFault(
  db: Db,
  model: string,
  version: number,
  errorRate: number,
): Promise<void> {
  await db.query(
    'INSERT INTO fault_injections (model, version, error_rate, updated_by) VALUES ($1, $2, $3, $4)',
    [model, version, errorRate, 'test'],
  );
}

/** What each route change of a model was for (`load`, `shadow`, `step-1`, ...), in order. */
export async function routeChangePurposes(db: Db, model: string): Promise<string[]> {
  const { rows } = await db.query<{ key: string }>(
    'SELECT key FROM route_changes WHERE model = $1 ORDER BY generation',
    [model],
  );
  return rows.map((row) => row.key.split('/').at(-1)!);
}
