import { CliError, ExitCode } from './exit-codes.js';

/**
 * The CLI's only way to the registry: the control-plane HTTP API. Maps transport
 * failures to exit 3 and 4xx answers to exit 2 with the API's own message.
 */
export class ApiClient {
  constructor(readonly baseUrl: string) {}

  async get<T>(pathname: string): Promise<T> {
    return this.request<T>('GET', pathname);
  }

  /** A request with a bearer token (admin endpoints). */
  async requestWithToken<T>(
    method: string,
    pathname: string,
    token: string,
    body?: unknown,
  ): Promise<T> {
    return this.request<T>(method, pathname, body, { authorization: `Bearer ${token}` });
  }

  async request<T>(
    method: string,
    pathname: string,
    body?: unknown,
    extraHeaders: Record<string, string> = {},
  ): Promise<T> {
    let response: Response;
    try {
      response = await fetch(new URL(pathname, this.baseUrl), {
        method,
        headers: {
          ...extraHeaders,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(15_000),
      });
    } catch (error) {
      throw new CliError(
        `cannot reach the mlops API at ${this.baseUrl} (${(error as Error).cause ?? (error as Error).message}); start it with \`mlops dev\` or \`mlops api\`, or set MLOPS_API_URL`,
        ExitCode.Unavailable,
      );
    }
    const payload = (await response.json().catch(() => ({}))) as { error?: { message?: string } };
    if (!response.ok) {
      const message = payload.error?.message ?? `HTTP ${response.status}`;
      throw new CliError(
        message,
        response.status >= 500 ? ExitCode.Unavailable : ExitCode.BadInput,
      );
    }
    return payload as T;
  }
}
