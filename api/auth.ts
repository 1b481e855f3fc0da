import type { FastifyInstance, FastifyRequest } from 'fastify';
import { SCOPES, type Principal, type Scope } from '../lib/access/scopes.js';
import { authenticateToken, requireScope, sameText } from '../lib/access/tokens.js';
import type { Db } from '../lib/db/db.js';
import { UnauthorizedError } from '../lib/errors.js';
import { writeAudit } from '../lib/registry/audit.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the request acts as; set on every route that names a scope. */
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** The scope a route needs; routes without one (health) need no token. */
    scope?: Scope;
  }
}

/** The route option that makes a route need a token with `scope`. */
export const needs = (scope: Scope) => ({ config: { scope } });

/**
 * Verifies the bearer token of every route that names a scope. The bootstrap admin token
 * (MLOPS_ADMIN_TOKEN) acts as identity `admin`; any other token must be in `api_tokens`,
 * unrevoked, for an enabled identity.
 */
export function installAuth(app: FastifyInstance, db: Db, adminToken: string | undefined): void {
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request) => {
    const scope = request.routeOptions.config?.scope;
    if (!scope) return;
    const principal = await principalOf(request, db, adminToken);
    try {
      requireScope(principal, scope, `${request.method} ${request.routeOptions.url}`);
    } catch (error) {
      // A known caller reaching past their scopes is worth a line in the audit log.
      await writeAudit(db, {
        actor: principal.identity,
        channel: channelOf(request),
        action: 'access.refused',
        details: { route: `${request.method} ${request.url}`, needs: scope, has: principal.scopes },
      });
      throw error;
    }
    request.principal = principal;
  });
}

async function principalOf(
  request: FastifyRequest,
  db: Db,
  adminToken: string | undefined,
): Promise<Principal> {
  const header = request.headers.authorization ?? '';
  const token = /^Bearer (\S+)$/.exec(header)?.[1];
  if (!token)
    throw new UnauthorizedError(
      'this endpoint needs an API token: send `Authorization: Bearer <token>` (the CLI reads MLOPS_API_TOKEN); an admin creates one with `mlops tokens create`',
    );
  if (adminToken && sameText(token, adminToken))
    return { identity: 'admin', groups: [], scopes: [...SCOPES], tokenId: 'env:MLOPS_ADMIN_TOKEN' };
  const principal = await authenticateToken(db, token);
  if (!principal)
    throw new UnauthorizedError(
      'the API token is unknown, revoked, or its identity is disabled; ask an admin for a new one',
    );
  return principal;
}

/** The door a request came through, for the audit log: the CLI says so in a header. */
export function channelOf(request: FastifyRequest): 'cli' | 'api' {
  return request.headers['x-mlops-channel'] === 'cli' ? 'cli' : 'api';
}

/** The principal of a request on a route that names a scope. */
export function principal(request: FastifyRequest): Principal {
  if (!request.principal) throw new Error('route has no scope, so no principal');
  return request.principal;
}
