import type { z } from 'zod';

/**
 * Errors the domain raises on purpose. Each maps once to an ApplicationFailure type
 * (see `toApplicationFailure` in activities) and says whether a retry can help.
 */
export class InvalidInputError extends Error {
  override readonly name = 'InvalidInputError';
  readonly retryable = false;
}

/** A request conflicts with the registry's current state (a transition that is not allowed). */
export class ConflictError extends Error {
  override readonly name = 'ConflictError';
  readonly retryable = false;
}

/** The thing asked for does not exist. */
export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
  readonly retryable = false;
}

/** The request carries no valid token (HTTP 401). */
export class UnauthorizedError extends Error {
  override readonly name = 'UnauthorizedError';
  readonly retryable = false;
}

/** The caller is known but may not do this (HTTP 403). */
export class ForbiddenError extends Error {
  override readonly name = 'ForbiddenError';
  readonly retryable = false;
}

/** Stored bytes do not hash to the digest they are filed under. */
export class IntegrityError extends Error {
  override readonly name = 'IntegrityError';
  readonly retryable = false;
}

/**
 * One line per problem: `field.path: rule (got value)`. Used by every boundary so a
 * person reading a CLI error or a failed workflow sees the field, the rule and the value.
 */
export function formatZodError(error: z.ZodError, input?: unknown): string {
  return error.issues
    .map((issue) => {
      // A strict object reports its extra keys at the object's path; name each key's own path.
      if (issue.code === 'unrecognized_keys')
        return issue.keys
          .map((key) => `${[...issue.path, key].join('.')}: unknown field (check its spelling)`)
          .join('; ');
      const where = issue.path.length > 0 ? issue.path.join('.') : '(root)';
      const got = valueAt(input, issue.path);
      return `${where}: ${issue.message}${describeValue(got, issue.path.length > 0 && input !== undefined)}`;
    })
    .join('; ');
}

/** What was given, for an error: the value itself, short; an array's length; or that it is missing. */
function describeValue(got: unknown, couldBeMissing: boolean): string {
  if (got === undefined) return couldBeMissing ? ' (missing)' : '';
  if (Array.isArray(got)) return ` (got an array of ${got.length})`;
  const text = JSON.stringify(got) ?? String(got);
  // A long value is cut, visibly: the message names the value, it need not hold all of it.
  return ` (got ${text.length > 80 ? `${text.slice(0, 79)}…` : text})`;
}

function valueAt(input: unknown, pathParts: readonly PropertyKey[]): unknown {
  let current: unknown = input;
  for (const part of pathParts) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[part];
  }
  return current;
}
