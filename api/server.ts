import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import { z } from 'zod';
import type { Db } from '../lib/db/db.js';
import {
  ConflictError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  UnauthorizedError,
} from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { aliasHistory, setAlias } from '../lib/registry/aliases.js';
import { listAudit, writeAudit } from '../lib/registry/audit.js';
import { listDatasets } from '../lib/registry/catalog.js';
import { getRun } from '../lib/registry/runs.js';
import { VersionNumberSchema, VersionRefSchema } from '../lib/registry/types.js';
import {
  listModels,
  listVersions,
  resolveVersion,
  retireVersion,
} from '../lib/registry/versions.js';
import { listReleases } from '../lib/release/release-store.js';
import { parseWith } from '../lib/spec/parse.js';
import { ModelNameSchema } from '../lib/spec/training-spec.js';
import { addAccessRoutes } from './access.js';
import { channelOf, installAuth, needs, principal } from './auth.js';
import {
  addReleaseRoutes,
  isTemporalUnreachable,
  withLiveStages,
  type ReleaseApiOptions,
} from './releases.js';
import { addRunRoutes } from './runs.js';
import { addSlackRoutes } from './slack.js';

export interface ApiOptions {
  db: Db;
  logger: Logger;
  /** The bootstrap admin token (identity `admin`, every scope); unset, only stored tokens work. */
  adminToken?: string;
  /** Starting and operating releases needs Temporal; without it those routes answer 503. */
  temporal?: ReleaseApiOptions;
}

const ModelParams = z.object({ model: ModelNameSchema });
const VersionParams = ModelParams.extend({ ref: VersionRefSchema });
const AliasBody = z
  .object({
    version: VersionNumberSchema,
    reason: z.string().min(1, 'must say why the alias moves'),
  })
  .strict();
const FaultBody = z
  .object({
    latencyMs: z.number().int().min(0).max(60_000).default(0),
    errorRate: z.number().min(0).max(1).default(0),
    reason: z.string().trim().min(1, 'must say why (a rollback drill, ...)'),
  })
  .strict();
const RetireBody = z
  .object({
    reason: z.string().min(1),
    archive: z.boolean().default(false),
  })
  .strict();

/**
 * The control-plane HTTP API: the registry, runs, catalog, releases, access and audit log,
 * as JSON. The CLI reads everything through it and never opens the database. Every route
 * but health needs a bearer token with the route's scope; the actor of every change is the
 * token's identity. Errors come back as `{ error: { type, message } }` with 400, 401, 403,
 * 404 or 409.
 */
export async function buildApi(options: ApiOptions): Promise<FastifyInstance> {
  const app = Fastify({
    // Per-request lines would drown the state changes; errors still reach the log.
    loggerInstance: options.logger.child(
      { component: 'api' },
      { level: 'warn' },
    ) as FastifyBaseLogger,
  });
  const { db } = options;

  app.setErrorHandler((error: Error, _request, reply) => {
    const status =
      error instanceof InvalidInputError
        ? 400
        : error instanceof UnauthorizedError
          ? 401
          : error instanceof ForbiddenError
            ? 403
            : error instanceof NotFoundError
              ? 404
              : error instanceof ConflictError
                ? 409
                : null;
    if (status !== null) {
      return reply.status(status).send({ error: { type: error.name, message: error.message } });
    }
    if (options.temporal && isTemporalUnreachable(error)) {
      return reply.status(503).send({
        error: {
          type: 'Unavailable',
          message: `cannot reach Temporal at ${options.temporal.address}; start it with \`mlops dev\` or set TEMPORAL_ADDRESS on the API`,
        },
      });
    }
    const clientError = (error as { statusCode?: number }).statusCode;
    if (clientError && clientError < 500) {
      return reply
        .status(clientError)
        .send({ error: { type: 'BadRequest', message: (error as Error).message } });
    }
    reply.log.error({ err: error }, 'request failed');
    return reply
      .status(500)
      .send({ error: { type: 'Internal', message: 'internal error; see the API log' } });
  });

  installAuth(app, db, options.adminToken);

  const requireModel = async (model: string): Promise<void> => {
    const { rows } = await db.query('SELECT 1 FROM models WHERE name = $1', [model]);
    if (rows.length === 0)
      throw new NotFoundError(`there is no model ${model}; \`mlops models ls\` lists the models`);
  };

  app.get('/healthz', async () => {
    await db.query('SELECT 1');
    return { ok: true };
  });

  app.get('/v1/models', needs('read'), async () => ({ models: await listModels(db) }));

  app.get('/v1/models/:model/versions', needs('read'), async (request) => {
    const { model } = parseWith(ModelParams, request.params, 'path');
    await requireModel(model);
    return { versions: await listVersions(db, model) };
  });

  app.get('/v1/models/:model/versions/:ref', needs('read'), async (request) => {
    const { model, ref } = parseWith(VersionParams, request.params, 'path');
    return resolveVersion(db, model, ref);
  });

  app.delete('/v1/models/:model/versions/:ref', needs('admin'), async (request) => {
    const { model, ref } = parseWith(VersionParams, request.params, 'path');
    if (typeof ref !== 'number')
      throw new InvalidInputError(`version: must be a number to delete (got ${ref})`);
    const body = parseWith(RetireBody, request.body ?? {}, 'request body');
    await retireVersion(db, model, ref, body.archive ? 'archived' : 'deleted', {
      actor: principal(request).identity,
      channel: channelOf(request),
      reason: body.reason,
    });
    return { model, version: ref, status: body.archive ? 'archived' : 'deleted' };
  });

  app.get('/v1/models/:model/aliases', needs('read'), async (request) => {
    const { model } = parseWith(ModelParams, request.params, 'path');
    return { history: await aliasHistory(db, model) };
  });

  app.put('/v1/models/:model/aliases/:alias', needs('release'), async (request) => {
    const { model, alias } = parseWith(
      ModelParams.extend({ alias: z.string().regex(/^[a-z][a-z0-9-]*$/) }),
      request.params,
      'path',
    );
    const body = parseWith(AliasBody, request.body ?? {}, 'request body');
    const result = await setAlias(
      db,
      { model, alias, version: body.version },
      { actor: principal(request).identity, channel: channelOf(request), reason: body.reason },
    );
    return { model, alias, version: body.version, ...result };
  });

  app.get('/v1/models/:model/audit', needs('read'), async (request) => {
    const { model } = parseWith(ModelParams, request.params, 'path');
    await requireModel(model);
    return { entries: await listAudit(db, model) };
  });

  app.get('/v1/models/:model/releases', needs('read'), async (request) => {
    const { model } = parseWith(ModelParams, request.params, 'path');
    await requireModel(model);
    const releases = await listReleases(db, model);
    return {
      releases: options.temporal ? await withLiveStages(options.temporal, releases) : releases,
    };
  });

  // Entries about no model: tokens, identities, refused Slack requests.
  app.get('/v1/audit', needs('admin'), async () => ({ entries: await listAudit(db, null) }));

  app.get('/v1/runs/:id', needs('read'), async (request) => {
    const { id } = parseWith(z.object({ id: z.string().min(1) }), request.params, 'path');
    return getRun(db, id);
  });

  app.get('/v1/datasets', needs('read'), async () => ({ datasets: await listDatasets(db) }));

  // Rollback drills: added latency and errors for one version on every gateway replica.
  app.put('/v1/admin/faults/:model/:ref', needs('admin'), async (request) => {
    const { model, ref } = parseWith(VersionParams, request.params, 'path');
    if (typeof ref !== 'number')
      throw new InvalidInputError(`version: must be a number (got ${ref})`);
    const body = parseWith(FaultBody, request.body ?? {}, 'request body');
    // A drill on a version that does not exist would be stored and never act.
    await resolveVersion(db, model, ref);
    await db.transaction(async (tx) => {
      if (body.latencyMs === 0 && body.errorRate === 0) {
        await tx.query('DELETE FROM fault_injections WHERE model = $1 AND version = $2', [
          model,
          ref,
        ]);
      } else {
        await tx.query(
          `INSERT INTO fault_injections (model, version, latency_ms, error_rate, updated_by) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (model, version) DO UPDATE SET latency_ms = EXCLUDED.latency_ms, error_rate = EXCLUDED.error_rate,
             updated_by = EXCLUDED.updated_by, updated_at = now()`,
          [model, ref, body.latencyMs, body.errorRate, principal(request).identity],
        );
      }
      await writeAudit(tx, {
        actor: principal(request).identity,
        channel: channelOf(request),
        action: 'fault.set',
        model,
        version: ref,
        details: { latencyMs: body.latencyMs, errorRate: body.errorRate, reason: body.reason },
      });
    });
    return { model, version: ref, latencyMs: body.latencyMs, errorRate: body.errorRate };
  });

  addAccessRoutes(app, db);
  if (options.temporal) {
    addReleaseRoutes(app, db, options.temporal);
    addRunRoutes(app, db, options.temporal);
    addSlackRoutes(app, db, options.temporal);
  } else {
    app.all('/v1/releases*', unavailable);
    app.post('/v1/runs', unavailable);
  }

  return app;
}

async function unavailable(_request: unknown, reply: FastifyReply): Promise<FastifyReply> {
  return reply.status(503).send({
    error: {
      type: 'Unavailable',
      message: 'this API runs without Temporal; it does not start or operate workflows',
    },
  });
}
