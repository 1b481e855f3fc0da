/** Exit codes CI relies on. */
export const ExitCode = {
  Ok: 0,
  /** The pipeline ran and its gate rejected the version (or a reproduction differed). */
  Rejected: 1,
  /** Bad input: a flag, a spec file, a name. Nothing was started. */
  BadInput: 2,
  /** Temporal, the API or the database could not be reached. */
  Unavailable: 3,
  /** The workflow ran and failed (a trainer crashed, a run was terminated): see the message. */
  Failed: 4,
} as const;

/** An error the CLI reports as one message and a specific exit code. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}
