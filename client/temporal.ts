import { Client, Connection } from '@temporalio/client';
import type { Config } from '../lib/config.js';
import { CliError, ExitCode } from './exit-codes.js';

/** A Temporal client for the configured address; exit 3 with what to do when unreachable. */
export async function connectTemporal(config: Config): Promise<Client> {
  try {
    const connection = await Connection.connect({
      address: config.TEMPORAL_ADDRESS,
      connectTimeout: '5s',
    });
    return new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  } catch (error) {
    throw new CliError(
      `cannot reach Temporal at ${config.TEMPORAL_ADDRESS} (${(error as Error).message}); start it with \`mlops dev\` or set TEMPORAL_ADDRESS`,
      ExitCode.Unavailable,
    );
  }
}
