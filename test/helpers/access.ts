import {
  Client,
  Connection,
  defaultGrpcRetryOptions,
  makeGrpcRetryInterceptor,
} from '@temporalio/client';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { inject } from 'vitest';
import { buildApi } from '../../api/server.js';
import { createLogger } from '../../lib/logger.js';
import { upsertIdentity } from '../../lib/access/identities.js';
import { SCOPES, type Scope } from '../../lib/access/scopes.js';
import { createToken } from '../../lib/access/tokens.js';
import type { Db } from '../../lib/db/db.js';

/** An identity with one token, created the way an admin would. */
export async function identityWithToken(
  db: Db,
  name: string,
  options: { scopes?: Scope[]; groups?: string[]; slackUserId?: string } = {},
): Promise<string> {
  await upsertIdentity(db, {
    name,
    displayName: name,
    slackUserId: options.slackUserId ?? null,
    groups: options.groups ?? [],
    disabled: false,
  });
  const { token } = await createToken(db, {
    identity: name,
    scopes: options.scopes ?? [...SCOPES],
    description: 'test',
    createdBy: 'test',
  });
  return token;
}

/** `app.inject` with a bearer token. */
export function injectAs(app: FastifyInstance, token: string) {
  return (options: InjectOptions) =>
    app.inject({
      ...options,
      headers: { ...options.headers, authorization: `Bearer ${token}` },
    });
}

/** The API on a free port, starting its workflows on `taskQueue` of the run's dev server. */
export async function startTestApi(
  db: Db,
  client: Client,
  taskQueue: string,
): Promise<{ api: FastifyInstance; url: string }> {
  const api = await buildApi({
    db,
    logger: createLogger('silent'),
    temporal: {
      client,
      address: inject('temporalAddress'),
      taskQueue,
      namespace: 'default',
      uiUrl: 'http://127.0.0.1:8233',
    },
  });
  return { api, url: await api.listen({ host: '127.0.0.1', port: 0 }) };
}

/**
 * The API with a Temporal client that can never connect (`address` has no server), as when
 * Temporal is down. `close()` stops the API and the client.
 */
export async function apiWithUnreachableTemporal(
  db: Db,
  address: string,
): Promise<{ api: FastifyInstance; close(): Promise<void> }> {
  const client = new Client({
    connection: Connection.lazy({
      address,
      connectTimeout: '1s',
      interceptors: [makeGrpcRetryInterceptor(defaultGrpcRetryOptions({ maxAttempts: 2 }))],
    }),
  });
  const api = await buildApi({
    db,
    logger: createLogger('silent'),
    temporal: { client, address, taskQueue: 'q', namespace: 'default', uiUrl: 'http://ui' },
  });
  return {
    api,
    async close() {
      await api.close();
      await client.connection.close().catch(() => undefined);
      // The lazy connection may still be retrying in the background; let it give up first.
      await new Promise((resolve) => setTimeout(resolve, 500));
    },
  };
}
