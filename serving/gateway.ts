import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { Counter, Gauge, Registry } from 'prom-client';
import { z } from 'zod';
import type { ArtifactStore } from '../lib/artifacts/store.js';
import type { EmailFeatures } from '../lib/corpus/email-row.js';
import type { Db } from '../lib/db/db.js';
import { formatZodError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { SparseVector } from '../lib/model/features.js';
import { insertPredictions, writeWindows } from '../lib/serving/metric-store.js';
import { MetricWindows, type WindowSeries } from '../lib/serving/metric-windows.js';
import {
  isWithdrawn,
  pickFrom,
  servedVersionsOf,
  splitOf,
  stickyDraw,
  versionsOf,
  type Route,
  type WeightedSplit,
} from '../lib/serving/route.js';
import {
  RecentPredictions,
  timeOfId,
  type RecentPrediction,
  type UnsavedPredictions,
} from '../lib/serving/recent.js';
import { registerVersionMetrics } from '../lib/serving/request-metrics.js';
import { readAllRoutes, reportReplica } from '../lib/serving/route-store.js';
import { RuntimeCache, type Runtime } from './runtime-cache.js';
import { ShadowPool } from './shadow-pool.js';

export interface GatewayOptions {
  db: Db;
  store: ArtifactStore;
  logger: Logger;
  replicaId?: string;
  /** How often the replica looks for a new route generation; it applies one within this. */
  pollIntervalMs?: number;
  flushIntervalMs?: number;
  /** Shadow copies that may wait for the shadow worker at a time; more are dropped (1000). */
  shadowQueueLimit?: number;
  /** Closed metric windows kept while the database is unreachable; older ones are dropped and counted. */
  maxBufferedWindows?: number;
  /** How long a version that failed to load waits before the next try (10 s). */
  loadRetryAfterMs?: number;
  /**
   * How long a prediction id the database does not hold may still be one another replica
   * has not written (feedback is told to retry rather than that it is unknown): after the
   * time in the id, and after an outage of the database that the id falls in (10 s).
   */
  unwrittenGraceMs?: number;
}

interface Fault {
  latencyMs: number;
  errorRate: number;
}

/** What answering with one version takes, looked up once per poll, not once per request. */
interface ServedVersion {
  version: number;
  runtime: Runtime;
  fault: Fault | null;
  /** Its metric windows and lifetime counts (what /metrics reports), across generations. */
  windows: WindowSeries;
}

/** A model as this replica serves it: its route, worked out for the request path. */
interface ServedModel {
  model: string;
  route: Route;
  /** The weighted versions that are loaded and verified; the others get no traffic. */
  split: WeightedSplit<ServedVersion>;
  /** Null when the route mirrors nothing or its shadow version is not loaded. */
  shadow: { target: ServedVersion; percent: number } | null;
}

/** One input worked out by a version, answered or failed, before anything is counted. */
interface Answered {
  served: ServedVersion;
  email: EmailFeatures;
  vector: SparseVector;
  label: 'spam' | 'ham';
  spamProbability: number;
  /** Time in the version's runtime, plus any latency drill on it. */
  seconds: number;
}
interface Failed {
  served: ServedVersion;
  error: string;
}
type Worked = Answered | Failed;

/** Which version made a prediction, and what it said: what feedback is counted against. */
type PredictionRef = Pick<RecentPrediction, 'model' | 'version' | 'label'>;
type StoredPrediction = PredictionRef & { claimed: boolean; feedback_label: string | null };

/** One e-mail to classify: any of its fields may be empty, not all, and no others. */
const EmailInput = z
  .object({
    subject: z.string().default(''),
    from: z.string().default(''),
    body: z.string().default(''),
  })
  .strict()
  .refine(
    (email) => email.subject !== '' || email.from !== '' || email.body !== '',
    'must have a non-empty subject, from or body',
  );
const PredictBody = z
  .object({
    input: EmailInput.optional(),
    inputs: z
      .array(EmailInput)
      .min(1, 'must hold at least one input')
      .max(1000, 'must hold at most 1000 inputs')
      .optional(),
  })
  .strict()
  .refine(
    (body) => (body.input === undefined) !== (body.inputs === undefined),
    'must have exactly one of input (one e-mail) or inputs (a batch)',
  );
const FeedbackBody = z
  .object({ predictionId: z.string().uuid(), label: z.enum(['spam', 'ham']) })
  .strict();
const STICKY_HEADER = 'x-mlops-route-key';
/** Predictions findable in memory for feedback (2^17). */
const RECENT_PREDICTIONS = 131_072;

/**
 * One gateway replica: an HTTP server for online inference that serves each model's
 * route from memory. A background loop applies new route generations, reports what it
 * serves, and flushes metric windows; when the database is down it keeps serving its
 * last route and buffers windows.
 */
export class Gateway {
  readonly replicaId: string;
  readonly app: FastifyInstance;
  private readonly routes = new Map<string, Route>();
  private readonly faults = new Map<string, Fault>();
  /** `routes` with runtimes and faults resolved, rebuilt by every poll that reads them. */
  private readonly served = new Map<string, ServedModel>();
  private readonly runtimes: RuntimeCache;
  private readonly windows: MetricWindows;
  private readonly shadow: ShadowPool;
  /** Also the predictions not logged yet: feedback given before a flush is flushed with them. */
  private readonly recent = new RecentPredictions(RECENT_PREDICTIONS);
  private timers: NodeJS.Timeout[] = [];
  private readonly metrics = new Registry();
  private readonly generationGauge: Gauge<'model'>;
  private readonly log: Logger;
  /** When this replica's poll last lost the database (null: it has it), and its last outage. */
  private outageStartedAt: number | null = null;
  private lastOutage: { startedAt: number; endedAt: number } | null = null;
  private flushing: Promise<void> | null = null;

  constructor(private readonly options: GatewayOptions) {
    this.replicaId = options.replicaId ?? `gw-${randomUUID().slice(0, 8)}`;
    this.log = options.logger.child({ component: 'gateway', replicaId: this.replicaId });
    this.runtimes = new RuntimeCache(options.db, options.store, options.loadRetryAfterMs);
    this.windows = new MetricWindows(options.maxBufferedWindows ?? 10_000);
    this.shadow = new ShadowPool(
      options.logger.child({ component: 'shadow' }),
      options.shadowQueueLimit ?? 1000,
    );
    registerVersionMetrics(this.metrics, this.windows);
    this.generationGauge = new Gauge({
      name: 'mlops_gateway_route_generation',
      help: 'Route generation this replica serves',
      labelNames: ['model'],
      registers: [this.metrics],
    });
    // Counts kept elsewhere, read at scrape time.
    const windows = this.windows;
    new Counter({
      name: 'mlops_gateway_metric_windows_lost_total',
      help: 'Metric windows dropped while the database was unreachable',
      registers: [this.metrics],
      collect() {
        this.reset();
        this.inc(windows.lostWindows);
      },
    });
    const shadow = this.shadow;
    new Counter({
      name: 'mlops_gateway_shadow_dropped_total',
      help: 'Shadow copies dropped: the shadow queue was full or its worker stopped',
      registers: [this.metrics],
      collect() {
        this.reset();
        this.inc(shadow.dropped);
      },
    });
    this.app = this.buildApp();
  }

  /** Loads the routes once, then keeps them current; returns once the first poll has run. */
  async start(): Promise<void> {
    await this.poll();
    this.timers.push(setInterval(() => void this.poll(), this.options.pollIntervalMs ?? 250));
    // Checks read what was flushed: a short interval is what lets a release react within seconds.
    this.timers.push(setInterval(() => void this.flush(), this.options.flushIntervalMs ?? 250));
  }

  /** Stops the loops, flushes what is buffered (best effort) and closes the server. */
  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    await this.app.close();
    await this.shadow.stop();
    await this.flushing;
    await this.flush(Date.now() + 1000);
  }

  /** The route generation this replica serves for `model`, or 0. */
  servedGeneration(model: string): number {
    return this.routes.get(model)?.generation ?? 0;
  }

  get lostWindowCount(): number {
    return this.windows.lostWindows;
  }

  private async poll(): Promise<void> {
    let desired: Route[];
    let faults: Array<{ model: string; version: number; latency_ms: number; error_rate: number }>;
    try {
      desired = await readAllRoutes(this.options.db);
      faults = (
        await this.options.db.query<{
          model: string;
          version: number;
          latency_ms: number;
          error_rate: number;
        }>('SELECT model, version, latency_ms, error_rate FROM fault_injections')
      ).rows;
      if (this.outageStartedAt !== null)
        this.lastOutage = { startedAt: this.outageStartedAt, endedAt: Date.now() };
      this.outageStartedAt = null;
    } catch (error) {
      // Keep serving the last good routes; say so once, not every tick.
      if (this.outageStartedAt === null)
        this.options.logger.warn(
          { replicaId: this.replicaId, err: error },
          'route poll failed; serving last known routes',
        );
      this.outageStartedAt ??= Date.now();
      return;
    }

    this.faults.clear();
    for (const fault of faults)
      this.faults.set(`${fault.model}/${fault.version}`, {
        latencyMs: fault.latency_ms,
        errorRate: fault.error_rate,
      });
    // A version that failed to load is tried again (RuntimeCache spaces the tries), so an
    // artifact put right, or a store back from an outage, serves without a new route.
    for (const route of this.routes.values())
      await this.runtimes.ensure(route.model, versionsOf(route));
    for (const model of this.routes.keys()) this.served.set(model, this.serve(model));

    for (const route of desired) {
      const current = this.routes.get(route.model);
      if (!current || current.generation < route.generation) {
        // Load first, then switch: a new split never points at a version still loading.
        await this.runtimes.ensure(route.model, versionsOf(route));
        this.routes.set(route.model, route);
        this.served.set(route.model, this.serve(route.model));
        this.generationGauge.set({ model: route.model }, route.generation);
        this.options.logger.info(
          {
            replicaId: this.replicaId,
            model: route.model,
            generation: route.generation,
            weights: route.weights,
          },
          'route applied',
        );
      }
      await reportReplica(this.options.db, {
        replicaId: this.replicaId,
        model: route.model,
        generation: this.routes.get(route.model)!.generation,
        versions: Object.fromEntries(
          versionsOf(route).map((version) => [
            String(version),
            this.runtimes.state(route.model, version),
          ]),
        ),
      }).catch(() => undefined);
    }
  }

  private serve(model: string): ServedModel {
    const route = this.routes.get(model)!;
    const versions = new Map<number, ServedVersion | null>();
    const servedVersion = (version: number): ServedVersion | null => {
      if (versions.has(version)) return versions.get(version)!;
      const runtime = this.runtimes.get(model, version);
      const served = runtime && {
        version,
        runtime,
        fault: this.faults.get(`${model}/${version}`) ?? null,
        windows: this.windows.seriesOf(model, version),
      };
      versions.set(version, served);
      return served;
    };
    const target = route.shadow && servedVersion(route.shadow.version);
    return {
      model,
      route,
      split: splitOf(route, servedVersion),
      shadow: target ? { target, percent: route.shadow!.percent } : null,
    };
  }

  private async flush(nowMs = Date.now()): Promise<void> {
    // One flush at a time: an older copy of a window must never land after a newer one.
    if (this.flushing) return this.flushing;
    this.flushing = this.flushOnce(nowMs).finally(() => (this.flushing = null));
    return this.flushing;
  }

  private async flushOnce(nowMs: number): Promise<void> {
    const rows = this.windows.takeClosed(nowMs);
    const open = this.windows.peekOpen();
    let predictions: UnsavedPredictions;
    try {
      predictions = await this.options.db.transaction(async (tx) => {
        await writeWindows(tx, this.replicaId, [...rows, ...open]);
        // Taken once the database answers: while it is down, nothing is built to be thrown away.
        // Feedback counted after this point is not in these rows; markSaved hands it back.
        const unsaved = this.recent.unsaved();
        if (unsaved.ids.length > 0) await insertPredictions(tx, unsaved);
        return unsaved;
      });
    } catch {
      // The predictions stay unsaved in `recent`, the oldest leaving it as new ones come.
      this.windows.giveBack(rows);
      return;
    }
    const late = this.recent.markSaved(predictions);
    // Best effort: the windows are written; a failure here must not write them again.
    if (late.length > 0) await this.storeLateFeedback(late).catch(() => undefined);
  }

  /**
   * Works out one e-mail with the version the route picks for it, counting and remembering
   * nothing yet: a batch is answered whole or not at all. Null: no version is ready.
   */
  private work(
    served: ServedModel,
    email: EmailFeatures,
    stickyKey: string | undefined,
  ): Worked | null {
    const { model, route } = served;
    const draw =
      stickyKey && route.sticky ? stickyDraw(stickyKey, route.generation) : Math.random();
    const answering = pickFrom(served.split, draw);
    if (answering === null) return null;
    const { version, runtime, fault } = answering;
    if (fault && fault.errorRate > 0 && Math.random() < fault.errorRate)
      return { served: answering, error: `injected fault on ${model} v${version}` };
    const started = performance.now();
    try {
      const vector = runtime.featurize(email);
      const { label, spamProbability } = runtime.predictVector(vector);
      // A latency drill holds the answer this much longer: it is part of the version's latency.
      const seconds = (performance.now() - started + (fault?.latencyMs ?? 0)) / 1000;
      return { served: answering, email, vector, label, spamProbability, seconds };
    } catch (error) {
      this.log.error({ model, version, err: error }, 'model failed on an input');
      return { served: answering, error: `${model} v${version} failed on this input` };
    }
  }

  /** Counts, remembers and mirrors an input whose answer goes back to the client. */
  private deliver(served: ServedModel, worked: Answered) {
    const { version } = worked.served;
    const { label, spamProbability } = worked;
    worked.served.windows.answered(Date.now(), worked.seconds, label);
    const predictionId = this.recent.add(served.model, version, label);
    this.mirror(served, worked);
    return { predictionId, version, label, spamProbability };
  }

  /** Sends a share of answered inputs to the route's shadow version, off the request path. */
  private mirror(served: ServedModel, worked: Answered): void {
    const shadow = served.shadow;
    const { runtime, version } = worked.served;
    if (!shadow || shadow.target.version === version || Math.random() * 100 >= shadow.percent)
      return;
    const { target } = shadow;
    const compare = (agreed: boolean): void => target.windows.compared(Date.now(), agreed);
    if (target.fault && target.fault.errorRate > 0 && Math.random() < target.fault.errorRate) {
      // A fault drill reaches shadow copies too: a copy that fails gave no answer to agree with.
      compare(false);
      return;
    }
    // A shadow that reads the same features scores the primary's vector, not the text again.
    const input =
      target.runtime.featureKey === runtime.featureKey
        ? { vector: worked.vector }
        : { email: worked.email };
    this.shadow.offer(target.runtime, input, (label) => compare(label === worked.label));
  }

  private buildApp(): FastifyInstance {
    // A batch of up to 1000 e-mails can be tens of MB.
    // No fastify logger: it would log each request (below the level we keep) and make a
    // child logger for each, which costs every request; what fails is logged here instead.
    const app = Fastify({
      bodyLimit: 32 * 1024 * 1024,
      // What fails before routing (a malformed URL, or not HTTP at all) in the same shape.
      frameworkErrors: (error, _request, reply: FastifyReply) =>
        reply.status(400).send({ error: { type: 'BadRequest', message: error.message } }),
      clientErrorHandler: (error, socket) => {
        if ((error as NodeJS.ErrnoException).code === 'ECONNRESET' || !socket.writable) {
          socket.destroy();
          return;
        }
        const body = JSON.stringify({
          error: {
            type: 'BadRequest',
            message: `the request is not valid HTTP (${error.message})`,
          },
        });
        socket.end(
          `HTTP/1.1 400 Bad Request\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
      },
    });
    const log = this.log;

    app.setErrorHandler((error: Error & { statusCode?: number }, request, reply) => {
      const status = error.statusCode && error.statusCode < 500 ? error.statusCode : 500;
      if (status === 500)
        log.error({ err: error, method: request.method, url: request.url }, 'request failed');
      return reply.status(status).send({
        error: {
          type: status === 500 ? 'Internal' : 'BadRequest',
          message: status === 500 ? 'internal error; see the gateway log' : error.message,
        },
      });
    });

    app.setNotFoundHandler((request, reply) =>
      reply.status(404).send({
        error: {
          type: 'NotFound',
          message: `no ${request.method} ${request.url.split('?')[0]} here; the gateway serves POST /v1/models/:model/predict, POST /v1/feedback, GET /v1/models/:model/route, /metrics, /healthz and /readyz`,
        },
      }),
    );

    app.post<{ Params: { model: string } }>('/v1/models/:model/predict', async (request, reply) => {
      const parsed = PredictBody.safeParse(request.body);
      if (!parsed.success)
        return reply.status(400).send({
          error: {
            type: 'InvalidInput',
            message: `request body is invalid: ${formatZodError(parsed.error, request.body)}`,
          },
        });
      const { model } = request.params;
      const served = this.served.get(model);
      if (!served)
        return reply.status(404).send({
          error: { type: 'NotFound', message: `model ${model} has no route on this gateway` },
        });

      const { route } = served;
      const inputs = parsed.data.input ? [parsed.data.input] : parsed.data.inputs!;
      const stickyKey = request.headers[STICKY_HEADER] as string | undefined;
      const worked: Worked[] = [];
      for (const input of inputs) {
        const one = this.work(served, input, stickyKey);
        if (one === null)
          return reply.status(503).send({
            error: {
              type: 'Unavailable',
              message: isWithdrawn(route)
                ? `${model} is withdrawn: route generation ${route.generation} gives no version traffic (its first release rolled back)`
                : `no version of ${model} in route generation ${route.generation} is ready`,
            },
          });
        worked.push(one);
      }
      // A latency drill holds the whole answer for the slowest version in it.
      const delayMs = worked.reduce((most, w) => Math.max(most, w.served.fault?.latencyMs ?? 0), 0);
      const failures = worked.flatMap((w, index) => ('error' in w ? [{ ...w, index }] : []));
      // What the client gets is what is counted: a failed batch answers none of its inputs,
      // so only the failed ones count (as their versions' errors), and nothing is logged.
      for (const failure of failures) failure.served.windows.failed(Date.now());
      const answers =
        failures.length === 0 ? worked.map((w) => this.deliver(served, w as Answered)) : [];
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      const [failed] = failures;
      if (failed)
        return reply.status(500).send({
          error: {
            type: 'PredictionFailed',
            message: parsed.data.input
              ? failed.error
              : `input ${failed.index} failed (${failed.error}); ${failures.length} of ${inputs.length} inputs failed and none is answered`,
            version: failed.served.version,
            ...(parsed.data.input ? {} : { input: failed.index }),
          },
        });
      const body = { model, generation: route.generation, predictions: answers };
      return parsed.data.input ? { model, generation: route.generation, ...answers[0] } : body;
    });

    app.post('/v1/feedback', async (request, reply) => {
      const parsed = FeedbackBody.safeParse(request.body);
      if (!parsed.success)
        return reply.status(400).send({
          error: {
            type: 'InvalidInput',
            message: `request body is invalid: ${formatZodError(parsed.error, request.body)}`,
          },
        });
      const { predictionId, label } = parsed.data;
      const claim = await this.claimFeedback(predictionId, label);
      if (claim.state === 'unknown')
        return reply.status(404).send({
          error: {
            type: 'NotFound',
            message: `prediction ${predictionId} is unknown (or older than this gateway remembers)`,
          },
        });
      if (claim.state === 'unavailable')
        return reply
          .status(503)
          .header('retry-after', '1')
          .send({
            error: {
              type: 'Unavailable',
              message: `prediction ${predictionId} cannot take feedback yet: ${claim.reason}; retry in a second`,
            },
          });
      const { prediction } = claim;
      if (claim.state === 'duplicate' && claim.label !== label)
        return reply.status(409).send({
          error: {
            type: 'Conflict',
            message: `prediction ${predictionId} already has feedback (${claim.label}); each prediction counts once`,
          },
        });
      const correct = prediction.label === label;
      // The same feedback again (a client retrying) is answered as the first was, not counted.
      if (claim.state === 'claimed')
        this.windows.seriesOf(prediction.model, prediction.version).labelled(Date.now(), correct);
      return {
        predictionId,
        model: prediction.model,
        version: prediction.version,
        correct,
        ...(claim.state === 'duplicate' ? { alreadyCounted: true } : {}),
      };
    });

    app.get<{ Params: { model: string } }>('/v1/models/:model/route', async (request, reply) => {
      const route = this.routes.get(request.params.model);
      if (!route)
        return reply.status(404).send({
          error: {
            type: 'NotFound',
            message: `model ${request.params.model} has no route on this gateway`,
          },
        });
      const versions = Object.fromEntries(
        versionsOf(route).map((version) => [
          String(version),
          this.runtimes.state(route.model, version),
        ]),
      );
      return { replicaId: this.replicaId, route, versions };
    });

    app.get('/metrics', async (_request, reply) =>
      reply.type(this.metrics.contentType).send(await this.metrics.metrics()),
    );
    app.get('/healthz', async () => ({ ok: true, replicaId: this.replicaId }));
    app.get('/readyz', async (_request, reply) => {
      const notReady = [...this.routes.values()].flatMap((route) =>
        servedVersionsOf(route)
          .map((version) => ({
            model: route.model,
            version,
            ...this.runtimes.state(route.model, version),
          }))
          .filter((state) => !state.ready),
      );
      return reply
        .status(notReady.length === 0 ? 200 : 503)
        .send({ ready: notReady.length === 0, notReady });
    });

    return app;
  }

  /** Feedback counted while its prediction was being written: written now, once. */
  private async storeLateFeedback(
    feedback: Array<{ id: string; label: 'spam' | 'ham'; at: number }>,
  ): Promise<void> {
    await this.options.db.query(
      `UPDATE predictions p SET feedback_label = f.label, feedback_at = to_timestamp(f.at / 1000.0)
         FROM jsonb_to_recordset($1::jsonb) AS f(id uuid, label text, at bigint)
        WHERE p.id = f.id AND p.feedback_at IS NULL`,
      [JSON.stringify(feedback)],
    );
  }

  /**
   * Takes the one feedback a prediction may have. A prediction not written yet is known only
   * here, so memory decides without a database round trip; once written, feedback may reach
   * any replica, so only the database decides, and while it is unreachable the answer is to
   * retry. An id made moments ago that the database does not hold yet was made by another
   * replica that has not written it: retry too, rather than call it unknown.
   */
  private async claimFeedback(
    id: string,
    label: 'spam' | 'ham',
  ): Promise<
    | { state: 'claimed'; prediction: PredictionRef }
    | { state: 'duplicate'; label: string; prediction: PredictionRef }
    | { state: 'unknown' }
    | { state: 'unavailable'; reason: string }
  > {
    const remembered = this.recent.get(id);
    if (remembered?.feedback)
      return { state: 'duplicate', label: remembered.feedback.label, prediction: remembered };
    if (remembered && !remembered.saved) {
      this.recent.setFeedback(id, label, Date.now());
      return { state: 'claimed', prediction: remembered };
    }

    let stored: StoredPrediction | undefined;
    try {
      stored = (
        await this.options.db.query<StoredPrediction>(
          `WITH claimed AS (
             UPDATE predictions SET feedback_label = $2, feedback_at = now()
              WHERE id = $1 AND feedback_at IS NULL
              RETURNING id)
           SELECT p.model, p.version, p.label, p.feedback_label,
                  EXISTS (SELECT 1 FROM claimed) AS claimed
             FROM predictions p WHERE p.id = $1`,
          [id, label],
        )
      ).rows[0];
    } catch {
      return { state: 'unavailable', reason: 'this gateway cannot reach the database' };
    }
    if (stored?.claimed) {
      this.recent.setFeedback(id, label, Date.now());
      return { state: 'claimed', prediction: stored };
    }
    if (stored) return { state: 'duplicate', label: stored.feedback_label!, prediction: stored };
    const reason = this.mayBeUnwritten(id);
    return reason ? { state: 'unavailable', reason } : { state: 'unknown' };
  }

  /**
   * Why a prediction id the database does not hold may yet be written by the replica that
   * made it, or null: it was made moments ago, or during an outage of the database that
   * ended moments ago (replicas write what they made meanwhile once it is back).
   */
  private mayBeUnwritten(id: string): string | null {
    const madeAt = timeOfId(id);
    if (madeAt === null) return null;
    const now = Date.now();
    const graceMs = this.options.unwrittenGraceMs ?? 10_000;
    if (Math.abs(now - madeAt) < graceMs)
      return `it was made ${Math.max(0, now - madeAt)} ms ago and is not written yet (replicas write their predictions every ${this.options.flushIntervalMs ?? 250} ms)`;
    // An outage this replica has not yet seen end (its poll has not run since) counts as
    // ending now.
    const outage =
      this.outageStartedAt !== null
        ? { startedAt: this.outageStartedAt, endedAt: now }
        : this.lastOutage;
    if (outage && now - outage.endedAt < graceMs && madeAt >= outage.startedAt - graceMs)
      return `it was made during an outage of the database that ended ${now - outage.endedAt} ms ago, and the replica that made it may not have written it yet`;
    return null;
  }
}
