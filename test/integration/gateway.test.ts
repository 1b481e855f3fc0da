import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileArtifactStore } from '../../lib/artifacts/store.js';
import type { Db } from '../../lib/db/db.js';
import { versionStats } from '../../lib/serving/metric-store.js';
import { readRoute, writeRoute } from '../../lib/serving/route-store.js';
import type { Route } from '../../lib/serving/route.js';
import { Gateway } from '../../serving/gateway.js';
import { freshDatabase, scratchDir, uniqueName } from '../helpers/env.js';
import { corpusRows, registerTrainedVersion } from '../helpers/models.js';
import { injectFault, startQuickGateway } from '../helpers/release.js';

describe('gateway', () => {
  let db: Db;
  let store: FileArtifactStore;
  const gateways: Gateway[] = [];

  beforeAll(async () => {
    db = await freshDatabase();
    store = new FileArtifactStore(path.join(scratchDir(), 'artifacts'));
  });
  afterAll(async () => {
    for (const gateway of gateways) await gateway.stop().catch(() => undefined);
    await db?.close();
  });

  const startGateway = async (): Promise<Gateway> => {
    const gateway = await startQuickGateway(db, store);
    gateways.push(gateway);
    return gateway;
  };

  const route = (
    model: string,
    generation: number,
    weights: Record<string, number>,
    extra: Partial<Route> = {},
  ): Route => ({
    model,
    generation,
    weights,
    shadow: null,
    warm: [],
    sticky: false,
    ...extra,
  });

  const waitForGeneration = async (
    gateway: Gateway,
    model: string,
    generation: number,
  ): Promise<void> => {
    await expect.poll(() => gateway.servedGeneration(model), { timeout: 5000 }).toBe(generation);
  };

  /** A new model whose one version has all the traffic, served by a new gateway. */
  const servingOneVersion = async () => {
    const model = uniqueName('gw');
    const v1 = await registerTrainedVersion(db, store, model, { seed: 1 });
    const gateway = await startGateway();
    await writeRoute(db, route(model, 1, { [v1.version]: 10_000 }), 'test');
    await waitForGeneration(gateway, model, 1);
    return { model, v1, gateway };
  };

  const emails = async (count: number) =>
    (await corpusRows())
      .slice(0, count)
      .map((row) => ({ subject: row.subject, from: row.from, body: row.body }));

  /** The versions that answered a batch of `count` e-mails. */
  const versionsAnswering = async (gateway: Gateway, model: string, count: number) => {
    const response = await gateway.app.inject({
      method: 'POST',
      url: `/v1/models/${model}/predict`,
      payload: { inputs: await emails(count) },
    });
    return new Set(
      response
        .json<{ predictions: Array<{ version: number }> }>()
        .predictions.map((p) => p.version),
    );
  };

  it('replaces weights instead of appending: after 50/50 becomes 0/100, the 0% version gets none of 10,000 requests', async () => {
    const model = uniqueName('gw');
    const v1 = await registerTrainedVersion(db, store, model, { seed: 1 });
    const v2 = await registerTrainedVersion(db, store, model, { seed: 2 });
    const gateway = await startGateway();
    await writeRoute(db, route(model, 1, { [v1.version]: 5000, [v2.version]: 5000 }), 'test');
    await waitForGeneration(gateway, model, 1);

    await writeRoute(db, route(model, 2, { [v1.version]: 0, [v2.version]: 10_000 }), 'test');
    await waitForGeneration(gateway, model, 2);
    const inputs = await emails(100);
    const served = new Map<number, number>();
    for (let batch = 0; batch < 100; batch++) {
      const response = await gateway.app.inject({
        method: 'POST',
        url: `/v1/models/${model}/predict`,
        payload: { inputs },
      });
      expect(response.statusCode).toBe(200);
      for (const prediction of response.json<{ predictions: Array<{ version: number }> }>()
        .predictions) {
        served.set(prediction.version, (served.get(prediction.version) ?? 0) + 1);
      }
    }

    expect(served.get(v1.version) ?? 0).toBe(0);
    expect(served.get(v2.version)).toBe(10_000);
    const live = await gateway.app.inject({ method: 'GET', url: `/v1/models/${model}/route` });
    expect(live.json<{ route: Route }>().route.weights).toEqual({
      [v1.version]: 0,
      [v2.version]: 10_000,
    });
    expect(await readRoute(db, model)).toMatchObject({ generation: 2 });
  });

  it('never sends traffic or shadow copies to a version whose artifact is corrupt, and is not ready', async () => {
    const model = uniqueName('gw');
    const good = await registerTrainedVersion(db, store, model, { seed: 1 });
    const bad = await registerTrainedVersion(db, store, model, { seed: 3 });
    const file = fileURLToPath(store.uriFor(bad.digest));
    fs.writeFileSync(file, Buffer.concat([fs.readFileSync(file), Buffer.from('x')]));
    const gateway = await startGateway();
    await writeRoute(
      db,
      route(
        model,
        1,
        { [good.version]: 5000, [bad.version]: 5000 },
        { shadow: { version: bad.version, percent: 100 } },
      ),
      'test',
    );
    await waitForGeneration(gateway, model, 1);

    const versions = await versionsAnswering(gateway, model, 200);
    expect(versions).toEqual(new Set([good.version]));
    const ready = await gateway.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    expect(JSON.stringify(ready.json())).toMatch(/is corrupt/);

    // Nothing was mirrored to the broken version either.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const stats = await versionStats(db, model, bad.version, 0, Date.now() + 1000);
    expect(stats.shadowCompared).toBe(0);
    expect(stats.requests).toBe(0);
  });

  it('is ready while a warm version fails to load, and serves that version once its artifact is put right', async () => {
    const model = uniqueName('gw');
    const good = await registerTrainedVersion(db, store, model, { seed: 1 });
    // A seed no other test corrupts: the store is content-addressed, the same bytes are one file.
    const bad = await registerTrainedVersion(db, store, model, { seed: 7 });
    const file = fileURLToPath(store.uriFor(bad.digest));
    const bytes = fs.readFileSync(file);
    fs.writeFileSync(file, Buffer.concat([bytes, Buffer.from('x')]));
    const gateway = await startQuickGateway(db, store, { loadRetryAfterMs: 300 });
    gateways.push(gateway);
    // Other tests' models share this database: what this model holds back.
    const notReady = async () =>
      (await gateway.app.inject({ method: 'GET', url: '/readyz' }))
        .json<{ notReady: Array<{ model: string; version: number }> }>()
        .notReady.filter((entry) => entry.model === model)
        .map((entry) => entry.version);

    // Warm only: it is reported as failed, and readiness is about what gets traffic.
    await writeRoute(
      db,
      route(model, 1, { [good.version]: 10_000 }, { warm: [bad.version] }),
      'test',
    );
    await waitForGeneration(gateway, model, 1);
    expect(await notReady()).toEqual([]);
    const shown = await gateway.app.inject({ method: 'GET', url: `/v1/models/${model}/route` });
    expect(JSON.stringify(shown.json())).toMatch(/is corrupt/);

    // Given traffic, it holds readiness back and gets none.
    await writeRoute(db, route(model, 2, { [good.version]: 5_000, [bad.version]: 5_000 }), 'test');
    await waitForGeneration(gateway, model, 2);
    expect(await notReady()).toEqual([bad.version]);

    // Put right: the next try loads it, with no new route, and it answers its share.
    fs.writeFileSync(file, bytes);
    await expect.poll(notReady, { timeout: 10_000 }).toEqual([]);
    const versions = await versionsAnswering(gateway, model, 200);
    expect(versions).toEqual(new Set([good.version, bad.version]));
  });

  it('mirrors a share of requests to the shadow version and records agreement, never returning its answers', async () => {
    const model = uniqueName('gw');
    const primary = await registerTrainedVersion(db, store, model, { seed: 1 });
    const candidate = await registerTrainedVersion(db, store, model, { seed: 4 });
    const gateway = await startGateway();
    await writeRoute(
      db,
      route(
        model,
        1,
        { [primary.version]: 10_000 },
        { shadow: { version: candidate.version, percent: 100 } },
      ),
      'test',
    );
    await waitForGeneration(gateway, model, 1);

    const response = await gateway.app.inject({
      method: 'POST',
      url: `/v1/models/${model}/predict`,
      payload: { inputs: await emails(300) },
    });
    expect(response.statusCode, response.body).toBe(200);
    expect(
      new Set(
        response
          .json<{ predictions: Array<{ version: number }> }>()
          .predictions.map((p) => p.version),
      ),
    ).toEqual(new Set([primary.version]));

    await expect
      .poll(
        async () =>
          (await versionStats(db, model, candidate.version, 0, Date.now() + 1000)).shadowCompared,
        { timeout: 5000 },
      )
      .toBe(300);
    const stats = await versionStats(db, model, candidate.version, 0, Date.now() + 1000);
    expect(stats.shadowAgreement).toBeGreaterThan(0.5);
    expect(stats.requests).toBe(0);
  });

  it('exports on /metrics the inputs each version answered, by outcome, and their latency histogram in seconds', async () => {
    const { model, v1, gateway } = await servingOneVersion();
    const [email] = await emails(1);
    const predict = (payload: object) =>
      gateway.app.inject({ method: 'POST', url: `/v1/models/${model}/predict`, payload });

    // What the client saw is what the metrics must say: 30 in one batch, then single inputs
    // until the fault drill reaches this replica, then three more failures.
    expect((await predict({ inputs: await emails(30) })).statusCode).toBe(200);
    let ok = 30;
    let failed = 0;
    await injectFault(db, model, v1.version, 1);
    while (failed < 4) {
      const status = (await predict({ input: email })).statusCode;
      if (status === 200) ok += 1;
      else if (status === 500) failed += 1;
      else throw new Error(`unexpected status ${status}`);
    }

    const text = (await gateway.app.inject({ method: 'GET', url: '/metrics' })).body;
    const value = (line: string): number => {
      const found = text.split('\n').find((candidate) => candidate.startsWith(`${line} `));
      if (!found) throw new Error(`no metric line ${line} in:\n${text}`);
      return Number(found.slice(line.length + 1));
    };
    const labels = `model="${model}",version="${v1.version}"`;
    expect(text).toContain('# TYPE mlops_gateway_requests_total counter');
    expect(text).toContain('# TYPE mlops_gateway_request_duration_seconds histogram');
    expect(value(`mlops_gateway_requests_total{${labels},outcome="ok"}`)).toBe(ok);
    expect(value(`mlops_gateway_requests_total{${labels},outcome="error"}`)).toBe(failed);
    // Latency is of answered inputs: a failed one has no answer time to speak of.
    const histogram = 'mlops_gateway_request_duration_seconds';
    expect(value(`${histogram}_count{${labels}}`)).toBe(ok);
    expect(value(`${histogram}_bucket{le="+Inf",${labels}}`)).toBe(ok);
    const buckets = [
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
    ].map((le) => value(`${histogram}_bucket{le="${le}",${labels}}`));
    expect(buckets).toEqual([...buckets].sort((a, b) => a - b));
    expect(buckets.at(-1)).toBe(ok);
    const sum = value(`${histogram}_sum{${labels}}`);
    expect(sum).toBeGreaterThan(0);
    expect(sum).toBeLessThan(ok);
    expect(value(`mlops_gateway_feedback_total{${labels},outcome="correct"}`)).toBe(0);
    expect(value('mlops_gateway_metric_windows_lost_total')).toBe(0);
  });

  it('answers a batch whole or not at all, counting only what the client was told', async () => {
    const { model, v1, gateway } = await servingOneVersion();
    await injectFault(db, model, v1.version, 0.5);
    const batch = { inputs: await emails(5) };

    let answered = 0;
    let failed = 0;
    let failedBatches = 0;
    // Until the drill reaches this replica, and then five failed batches.
    for (let i = 0; failedBatches < 5; i++) {
      if (i === 1000) throw new Error(`only ${failedBatches} of 1000 batches failed`);
      await new Promise((resolve) => setTimeout(resolve, 5));
      const response = await gateway.app.inject({
        method: 'POST',
        url: `/v1/models/${model}/predict`,
        payload: batch,
      });
      if (response.statusCode === 200) {
        answered += response.json<{ predictions: unknown[] }>().predictions.length;
        continue;
      }
      expect(response.statusCode, response.body).toBe(500);
      const { error } = response.json<{
        error: { message: string; version: number; input: number };
      }>();
      const [, count] = /; (\d) of 5 inputs failed and none is answered$/.exec(error.message)!;
      expect(error.message).toMatch(new RegExp(`^input ${error.input} failed \\(injected fault`));
      expect(error.version).toBe(v1.version);
      failed += Number(count);
      failedBatches += 1;
    }

    // A batch of one is still a batch: its failure names the input.
    for (;;) {
      const response = await gateway.app.inject({
        method: 'POST',
        url: `/v1/models/${model}/predict`,
        payload: { inputs: batch.inputs.slice(0, 1) },
      });
      if (response.statusCode === 200) {
        answered += 1;
        continue;
      }
      expect(response.json()).toMatchObject({
        error: { input: 0, message: expect.stringMatching(/; 1 of 1 inputs failed/) },
      });
      failed += 1;
      break;
    }

    const text = (await gateway.app.inject({ method: 'GET', url: '/metrics' })).body;
    const labels = `model="${model}",version="${v1.version}"`;
    expect(text).toContain(`mlops_gateway_requests_total{${labels},outcome="ok"} ${answered}\n`);
    expect(text).toContain(`mlops_gateway_requests_total{${labels},outcome="error"} ${failed}\n`);
    // Only answers the client got are in the prediction log, so only they can take feedback.
    await expect
      .poll(async () => {
        const stats = await versionStats(db, model, v1.version, 0, Date.now() + 1000);
        return [stats.requests, stats.errors];
      })
      .toEqual([answered + failed, failed]);
    const { rows } = await db.query('SELECT 1 FROM predictions WHERE model = $1', [model]);
    expect(rows).toHaveLength(answered);
  });

  it('adds up metric windows and feedback from two replicas', async () => {
    const { model, v1, gateway: a } = await servingOneVersion();
    const b = await startGateway();
    await waitForGeneration(b, model, 1);

    const rows = (await corpusRows()).slice(0, 40);
    const ask = async (gateway: Gateway, row: (typeof rows)[number]) =>
      (
        await gateway.app.inject({
          method: 'POST',
          url: `/v1/models/${model}/predict`,
          payload: { input: { subject: row.subject, from: row.from, body: row.body } },
        })
      ).json<{ predictionId: string; label: string }>();
    const answers = [];
    for (const [i, row] of rows.entries())
      answers.push({ row, answer: await ask(i % 2 === 0 ? a : b, row) });
    // Feedback reaches the other replica than the one that answered: it finds the prediction in the database.
    await new Promise((resolve) => setTimeout(resolve, 600));
    for (const [i, { row, answer }] of answers.entries()) {
      const response = await (i % 2 === 0 ? b : a).app.inject({
        method: 'POST',
        url: '/v1/feedback',
        payload: { predictionId: answer.predictionId, label: row.label },
      });
      expect(response.statusCode).toBe(200);
    }

    const expectedCorrect = answers.filter(({ row, answer }) => row.label === answer.label).length;
    await expect
      .poll(
        async () => (await versionStats(db, model, v1.version, 0, Date.now() + 1000)).feedback,
        { timeout: 5000 },
      )
      .toBe(40);
    const stats = await versionStats(db, model, v1.version, 0, Date.now() + 1000);
    expect(stats.requests).toBe(40);
    expect(stats.onlineAccuracy).toBeCloseTo(expectedCorrect / 40, 10);
  });

  it('counts feedback once per prediction, whichever replica it reaches and whenever', async () => {
    const { model, v1, gateway: a } = await servingOneVersion();
    const b = await startGateway();
    await waitForGeneration(b, model, 1);
    const [row] = await corpusRows();
    const { predictionId } = (
      await a.app.inject({
        method: 'POST',
        url: `/v1/models/${model}/predict`,
        payload: { input: { subject: row!.subject, from: row!.from, body: row!.body } },
      })
    ).json<{ predictionId: string }>();
    const feedback = (gateway: Gateway, label: 'spam' | 'ham') =>
      gateway.app.inject({ method: 'POST', url: '/v1/feedback', payload: { predictionId, label } });

    // Before the prediction is written, the other replica cannot know it: retry, not unknown.
    const tooSoon = await feedback(b, 'spam');
    expect(tooSoon.statusCode, tooSoon.body).toBe(503);
    expect(tooSoon.headers['retry-after']).toBe('1');
    expect(tooSoon.json().error.message).toMatch(/is not written yet .*; retry in a second/);
    // The answering replica remembers it.
    const first = await feedback(a, 'spam');
    const again = await feedback(a, 'ham');
    await new Promise((resolve) => setTimeout(resolve, 600));
    const elsewhere = await feedback(b, 'ham');
    // The same feedback again, as a client retrying after a timeout: answered, not counted.
    const retried = await feedback(b, 'spam');

    expect(first.statusCode).toBe(200);
    expect(first.json()).not.toHaveProperty('alreadyCounted');
    expect([again.statusCode, elsewhere.statusCode]).toEqual([409, 409]);
    expect(again.json().error.message).toMatch(
      /already has feedback \(spam\); each prediction counts once/,
    );
    expect(retried.statusCode, retried.body).toBe(200);
    expect(retried.json()).toMatchObject({
      predictionId,
      version: v1.version,
      correct: first.json().correct,
      alreadyCounted: true,
    });
    await expect
      .poll(
        async () => (await versionStats(db, model, v1.version, 0, Date.now() + 1000)).feedback,
        { timeout: 5000 },
      )
      .toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect((await versionStats(db, model, v1.version, 0, Date.now() + 1000)).feedback).toBe(1);
  });

  it('keeps one request key on one version within a route generation when routing is sticky', async () => {
    const model = uniqueName('gw');
    const v1 = await registerTrainedVersion(db, store, model, { seed: 1 });
    const v2 = await registerTrainedVersion(db, store, model, { seed: 2 });
    const gateway = await startGateway();
    await writeRoute(
      db,
      route(model, 1, { [v1.version]: 5000, [v2.version]: 5000 }, { sticky: true }),
      'test',
    );
    await waitForGeneration(gateway, model, 1);

    const [input] = await emails(1);
    const versionsPerKey = new Map<string, Set<number>>();
    for (let key = 0; key < 40; key++) {
      for (let repeat = 0; repeat < 5; repeat++) {
        const response = await gateway.app.inject({
          method: 'POST',
          url: `/v1/models/${model}/predict`,
          headers: { 'x-mlops-route-key': `user-${key}` },
          payload: { input },
        });
        const set = versionsPerKey.get(`user-${key}`) ?? new Set<number>();
        set.add(response.json<{ version: number }>().version);
        versionsPerKey.set(`user-${key}`, set);
      }
    }

    expect([...versionsPerKey.values()].every((set) => set.size === 1)).toBe(true);
    const used = new Set([...versionsPerKey.values()].flatMap((set) => [...set]));
    expect(used).toEqual(new Set([v1.version, v2.version]));
  });

  it('answers a malformed URL or a request that is not HTTP in its error shape', async () => {
    const gateway = await startGateway();
    const badUrl = await gateway.app.inject({ method: 'GET', url: '/v1/models/%zz/route' });
    expect(badUrl.statusCode).toBe(400);
    expect(badUrl.json()).toEqual({
      error: { type: 'BadRequest', message: expect.stringContaining('not a valid url') },
    });

    const url = new URL(await gateway.app.listen({ port: 0, host: '127.0.0.1' }));
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(url.port), url.hostname, () =>
        socket.write('FOO / HTTP/1.1\r\nHost: x\r\n\r\n'),
      );
      let received = '';
      socket.on('data', (chunk) => (received += chunk.toString('utf8')));
      socket.on('end', () => resolve(received));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(JSON.parse(answer.split('\r\n\r\n')[1]!)).toEqual({
      error: {
        type: 'BadRequest',
        message: expect.stringMatching(/^the request is not valid HTTP/),
      },
    });
  });

  it('rejects a bad request body naming the field', async () => {
    const { model, gateway } = await servingOneVersion();

    const response = await gateway.app.inject({
      method: 'POST',
      url: `/v1/models/${model}/predict`,
      payload: { input: { subject: 42 } },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json<{ error: { message: string } }>().error.message).toMatch(
      /input\.subject: .*expected string/,
    );

    const misspelt = await gateway.app.inject({
      method: 'POST',
      url: `/v1/models/${model}/predict`,
      payload: { input: { subjekt: 'hello' } },
    });
    expect(misspelt.json<{ error: { message: string } }>().error.message).toMatch(
      /input\.subjekt: unknown field/,
    );
    const empty = await gateway.app.inject({
      method: 'POST',
      url: `/v1/models/${model}/predict`,
      payload: { input: {} },
    });
    expect(empty.json<{ error: { message: string } }>().error.message).toMatch(
      /input: must have a non-empty subject, from or body/,
    );
    const tooMany = await gateway.app.inject({
      method: 'POST',
      url: `/v1/models/${model}/predict`,
      payload: { inputs: Array.from({ length: 1001 }, () => ({ subject: 'x' })) },
    });
    expect(tooMany.json<{ error: { message: string } }>().error.message).toMatch(
      /inputs: must hold at most 1000 inputs/,
    );
    // A wrong method or path is answered in the same shape, saying what is served.
    const wrongMethod = await gateway.app.inject({
      method: 'GET',
      url: `/v1/models/${model}/predict`,
    });
    expect(wrongMethod.statusCode).toBe(404);
    expect(wrongMethod.json()).toEqual({
      error: {
        type: 'NotFound',
        message: expect.stringMatching(
          new RegExp(
            `^no GET /v1/models/${model}/predict here; the gateway serves POST /v1/models/:model/predict`,
          ),
        ),
      },
    });
  });
});
