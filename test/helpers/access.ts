import type { FastifyInstance, InjectOptions } from 'fastify';
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
