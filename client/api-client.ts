import type { Config } from '../lib/config.js';
import { cliApiToken } from '../lib/access/dev-token.js';
import { CliError, ExitCode } from './exit-codes.js';

/**
 * The CLI's only way to the registry, access and release operations: the control-plane
 * HTTP API, with the caller's bearer token. Maps transport failures to exit 3, a missing
 * or refused token to exit 2 with what to do, and other 4xx answers to exit 2 with the
 * API's own message.
 */
export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly token?: string,
  ) {}

  /** A client for the configured API with the configured token (MLOPS_API_TOKEN or `mlops dev`'s). */
  static fromConfig(config: Config): ApiClient {
    return new ApiClient(config.MLOPS_API_URL, cliApiToken(config, config.dataDir));
  }

  async get<T>(pathname: string): Promise<T> {
    return this.request<T>('GET', pathname);
  }

  async request<T>(method: string, pathname: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(new URL(pathname, this.baseUrl), {
        method,
        headers: {
          'x-mlops-channel': 'cli',
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(15_000),
      });
    } catch (error) {
      if ((error as Error).name === 'TimeoutError')
        throw new CliError(
          `the mlops API at ${this.baseUrl} did not answer within 15 s; it may be waiting on Temporal or PostgreSQL (see its log)`,
          ExitCode.Unavailable,
        );
      throw new CliError(
        `cannot reach the mlops API at ${this.baseUrl} (${(error as Error).cause ?? (error as Error).message}); start it with \`mlops dev\` or \`mlops api\`, or set MLOPS_API_URL`,
        ExitCode.Unavailable,
      );
    }
    const payload = (await response.json().catch(() => ({}))) as { error?: { message?: string } };
    if (!response.ok) {
      const message = payload.error?.message ?? `HTTP ${response.status}`;
      const hint =
        response.status === 401 && !this.token
          ? '; set MLOPS_API_TOKEN (or run `mlops dev`, which writes a local token)'
          : '';
      throw new CliError(
        `${message}${hint}`,
        response.status >= 500 ? ExitCode.Unavailable : ExitCode.BadInput,
      );
    }
    return payload as T;
  }
}
