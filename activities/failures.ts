import { ApplicationFailure } from '@temporalio/activity';
import { ConflictError, IntegrityError, InvalidInputError, NotFoundError } from '../lib/errors.js';

/**
 * Failure types the workflows see. Each domain error maps to exactly one, and none of
 * them is retried: repeating the same call cannot make bad input good.
 */
export const FailureType = {
  InvalidInput: 'InvalidInput',
  Conflict: 'Conflict',
  NotFound: 'NotFound',
  Integrity: 'ArtifactIntegrity',
  TrainerFailed: 'TrainerFailed',
} as const;

/** Runs `fn`, turning known domain errors into non-retryable ApplicationFailures. */
export async function mapFailures<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw toApplicationFailure(error);
  }
}

export function toApplicationFailure(error: unknown): unknown {
  const type =
    error instanceof InvalidInputError
      ? FailureType.InvalidInput
      : error instanceof ConflictError
        ? FailureType.Conflict
        : error instanceof NotFoundError
          ? FailureType.NotFound
          : error instanceof IntegrityError
            ? FailureType.Integrity
            : null;
  if (type === null) return error;
  return ApplicationFailure.create({
    message: (error as Error).message,
    type,
    nonRetryable: true,
    cause: error as Error,
  });
}
