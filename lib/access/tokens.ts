import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Queryable } from '../db/db.js';
import { ForbiddenError, NotFoundError } from '../errors.js';
import { SCOPES, type Principal, type Scope } from './scopes.js';

/** Tokens read `mlops_<id>_<secret>`; the id finds the row, only the whole token's hash is kept. */
const TOKEN_PATTERN = /^mlops_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

export interface TokenRecord {
  id: string;
  identity: string;
  scopes: Scope[];
  description: string;
  createdBy: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * Creates a token for an existing identity and returns it once; the database keeps only
 * its sha256, so a lost token is revoked and replaced, never recovered.
 */
export async function createToken(
  db: Queryable,
  input: { identity: string; scopes: Scope[]; description: string; createdBy: string },
): Promise<{ id: string; token: string }> {
  const { rows } = await db.query('SELECT 1 FROM identities WHERE name = $1', [input.identity]);
  if (rows.length === 0)
    throw new NotFoundError(
      `identity: there is no identity ${input.identity}; create it first with \`mlops identities add ${input.identity}\``,
    );
  const id = randomBytes(6).toString('hex');
  const token = `mlops_${id}_${randomBytes(32).toString('base64url')}`;
  await db.query(
    `INSERT INTO api_tokens (id, identity, token_sha256, scopes, description, created_by)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [
      id,
      input.identity,
      hashToken(token),
      [...new Set(input.scopes)],
      input.description,
      input.createdBy,
    ],
  );
  return { id, token };
}

/**
 * The principal a bearer token stands for, or null when the token is unknown, malformed,
 * revoked, or its identity is disabled. Marks the token used (at most once a minute).
 */
export async function authenticateToken(db: Queryable, token: string): Promise<Principal | null> {
  if (!TOKEN_PATTERN.test(token)) return null;
  const { rows } = await db.query<{
    id: string;
    identity: string;
    scopes: string[];
    groups: string[];
  }>(
    `SELECT t.id, t.identity, t.scopes, i.groups
       FROM api_tokens t JOIN identities i ON i.name = t.identity
      WHERE t.token_sha256 = $1 AND t.revoked_at IS NULL AND NOT i.disabled`,
    [hashToken(token)],
  );
  // Looked up by the hash of the whole token: equality on a hash reveals nothing of the token.
  const row = rows[0];
  if (!row) return null;
  await db.query(
    `UPDATE api_tokens SET last_used_at = now()
      WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`,
    [row.id],
  );
  return {
    identity: row.identity,
    groups: row.groups,
    scopes: row.scopes.filter((scope): scope is Scope =>
      (SCOPES as readonly string[]).includes(scope),
    ),
    tokenId: row.id,
  };
}

export async function revokeToken(db: Queryable, id: string): Promise<void> {
  const { rows } = await db.query(
    'UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING id',
    [id],
  );
  if (rows.length === 0)
    throw new NotFoundError(`token: there is no token ${id}; \`mlops tokens ls\` lists them`);
}

export async function listTokens(db: Queryable): Promise<TokenRecord[]> {
  const { rows } = await db.query<{
    id: string;
    identity: string;
    scopes: Scope[];
    description: string;
    created_by: string;
    created_at: Date;
    last_used_at: Date | null;
    revoked_at: Date | null;
  }>(
    `SELECT id, identity, scopes, description, created_by, created_at, last_used_at, revoked_at
       FROM api_tokens ORDER BY created_at, id`,
  );
  return rows.map((row) => ({
    id: row.id,
    identity: row.identity,
    scopes: row.scopes,
    description: row.description,
    createdBy: row.created_by,
    createdAt: new Date(row.created_at).toISOString(),
    lastUsedAt: row.last_used_at ? new Date(row.last_used_at).toISOString() : null,
    revokedAt: row.revoked_at ? new Date(row.revoked_at).toISOString() : null,
  }));
}

/** Refuses a request that lacks a scope, naming what it needs and what the token has. */
export function requireScope(principal: Principal, scope: Scope, what: string): void {
  if (!principal.scopes.includes(scope) && !principal.scopes.includes('admin'))
    throw new ForbiddenError(
      `${what} needs a token with scope ${scope}; the token of ${principal.identity} has ${principal.scopes.join(', ') || 'no scopes'}`,
    );
}

export function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
