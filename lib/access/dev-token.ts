import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Db } from '../db/db.js';
import { SCOPES } from './scopes.js';
import { authenticateToken, createToken } from './tokens.js';

/** Where `mlops dev` leaves the local developer's token, and where the CLI looks for it. */
export function devTokenPath(dataDir: string): string {
  return path.join(dataDir, 'api-token');
}

/** The local user's name as an identity name (`Jane.Doe` becomes `jane.doe`). */
export function localIdentityName(): string {
  const raw = process.env.USER ?? os.userInfo().username;
  const name = raw
    .toLowerCase()
    .replace(/[^a-z0-9._-]/g, '-')
    .replace(/^[^a-z0-9]+/, '');
  return name.slice(0, 63) || 'developer';
}

/**
 * For `mlops dev` only: makes sure the local user has an identity and a token with every
 * scope, kept in `<dataDir>/api-token` (mode 0600), so the CLI works on a laptop without
 * setup. A production API never calls this; its admin hands out tokens.
 */
export async function ensureDevToken(
  db: Db,
  dataDir: string,
): Promise<{ identity: string; file: string }> {
  const file = devTokenPath(dataDir);
  if (fs.existsSync(file)) {
    const existing = await authenticateToken(db, fs.readFileSync(file, 'utf8').trim());
    if (existing) return { identity: existing.identity, file };
  }
  const identity = localIdentityName();
  await db.query(
    `INSERT INTO identities (name, display_name) VALUES ($1, 'local developer (mlops dev)')
     ON CONFLICT (name) DO NOTHING`,
    [identity],
  );
  const { token } = await createToken(db, {
    identity,
    scopes: [...SCOPES],
    description: 'mlops dev: local developer',
    createdBy: 'mlops dev',
  });
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return { identity, file };
}

/** The CLI's token: MLOPS_API_TOKEN, else the one `mlops dev` wrote, else none. */
export function cliApiToken(
  env: { MLOPS_API_TOKEN?: string },
  dataDir: string,
): string | undefined {
  if (env.MLOPS_API_TOKEN) return env.MLOPS_API_TOKEN;
  try {
    return fs.readFileSync(devTokenPath(dataDir), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
