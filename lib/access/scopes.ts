import { z } from 'zod';

/**
 * What an API token may do. `read` lists and shows; `train` starts training; `release`
 * starts, pauses, resumes and aborts releases; `approve` approves, rejects and promotes
 * (the release's own approver list still decides); `admin` manages tokens, identities,
 * model access and fault injection; `delegate` lets a bridge (the Slack bridge) act for
 * the person it has verified, with that person's identity, never its own.
 */
export const SCOPES = ['read', 'train', 'release', 'approve', 'admin', 'delegate'] as const;
export type Scope = (typeof SCOPES)[number];

export const ScopeSchema = z.enum(SCOPES, { error: `must be one of ${SCOPES.join(', ')}` });

/** Who a request acts as, once its token is verified. */
export interface Principal {
  identity: string;
  groups: string[];
  scopes: Scope[];
  /** The token's id (never the token), or `env:MLOPS_ADMIN_TOKEN` for the bootstrap token. */
  tokenId: string;
}

/** Identity names as people type them: `alice`, `ci-bot`, `jane.doe`. */
export const IdentityNameSchema = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9._-]{0,62}$/,
    'must be lowercase letters, digits, dot, dash or underscore, starting with a letter or digit',
  );

/**
 * An approver entry in a model's access list or a plan's gate: an identity (`alice`) or a
 * group (`group:ml-leads`).
 */
export const ApproverEntrySchema = z
  .string()
  .regex(
    /^(group:)?[a-z0-9][a-z0-9._-]{0,62}$/,
    'must be an identity name like alice or a group like group:ml-leads',
  );
