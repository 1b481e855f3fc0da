import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One HTTP request the recorder received, with its body parsed (form or JSON). */
export interface RecordedSlackCall {
  /** The HTTP method, e.g. POST. */
  method: string;
  /** The path without query string, e.g. `/api/chat.postMessage` or `/respond/abc`. */
  path: string;
  body: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
  /** Epoch milliseconds when the request arrived. */
  at: number;
  /** The HTTP status the recorder answered: 200, or the one failNext asked for. */
  status: number;
}

/** A stand-in for Slack's Web API and interaction response URLs; see startSlackRecorder. */
export interface SlackRecorder {
  /** Base URL, e.g. http://127.0.0.1:PORT. */
  url: string;
  /** `url + '/api/'`: pass as WebClient's slackApiUrl. */
  apiUrl: string;
  /** `url + '/respond/' + id`, to use as an interaction's response_url. */
  responseUrl(id: string): string;
  /** Every request received, in arrival order, failed ones included. */
  calls: RecordedSlackCall[];
  /** Calls of one Web API method, e.g. apiCalls('chat.postMessage'). */
  apiCalls(method: string): RecordedSlackCall[];
  /** Calls to response URLs; only those of `id` when given. */
  responses(id?: string): RecordedSlackCall[];
  /** The next `count` requests get HTTP `status` (default 503) instead of success. */
  failNext(count: number, status?: number): void;
  /** Polls every 20 ms until `predicate(calls)` holds; on timeout rejects listing the calls. */
  waitFor(predicate: (calls: RecordedSlackCall[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const API_PREFIX = '/api/';
const RESPOND_PREFIX = '/respond/';

/**
 * Starts a real HTTP server on 127.0.0.1 (a free port) that answers like Slack's Web API
 * (`chat.postMessage`, `chat.update`, `{ ok: true }` for any other method) and like a
 * response URL (200 `ok`), recording every request so tests can assert on what was sent.
 */
export async function startSlackRecorder(): Promise<SlackRecorder> {
  const calls: RecordedSlackCall[] = [];
  let failures = { remaining: 0, status: 503 };
  let messagesPosted = 0;

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://recorder').pathname;
      const body = parseBody(Buffer.concat(chunks).toString('utf8'), req.headers['content-type']);
      const call: RecordedSlackCall = {
        method: req.method ?? 'GET',
        path,
        body,
        headers: { ...req.headers },
        at: Date.now(),
        status: 200,
      };
      calls.push(call);

      if (failures.remaining > 0) {
        failures.remaining -= 1;
        call.status = failures.status;
        // Without Retry-After the WebClient treats a 429 as fatal instead of rate limiting.
        const retryAfter = failures.status === 429 ? { 'Retry-After': '1' } : {};
        res.writeHead(failures.status, { 'Content-Type': 'application/json', ...retryAfter });
        res.end(JSON.stringify({ ok: false, error: 'slack_recorder_failing' }));
        return;
      }

      if (path.startsWith(RESPOND_PREFIX)) {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end('ok');
        return;
      }
      if (!path.startsWith(API_PREFIX)) {
        call.status = 404;
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        res.end(`the Slack recorder serves ${API_PREFIX}<method> and ${RESPOND_PREFIX}<id>`);
        return;
      }

      const method = path.slice(API_PREFIX.length);
      if (method === 'chat.postMessage') messagesPosted += 1;
      res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(answer(method, body, messagesPosted)));
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  let closed: Promise<void> | undefined;

  return {
    url,
    apiUrl: `${url}${API_PREFIX}`,
    responseUrl: (id) => `${url}${RESPOND_PREFIX}${encodeURIComponent(id)}`,
    calls,
    apiCalls: (method) => calls.filter((call) => call.path === `${API_PREFIX}${method}`),
    responses: (id) =>
      calls.filter(
        (call) =>
          call.path.startsWith(RESPOND_PREFIX) &&
          (id === undefined || decodeURIComponent(call.path.slice(RESPOND_PREFIX.length)) === id),
      ),
    failNext: (count, status = 503) => {
      failures = { remaining: count, status };
    },
    waitFor: (predicate, timeoutMs = 5000) => waitForCalls(calls, predicate, timeoutMs),
    close: () => {
      closed ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // fetch keeps connections alive; close() alone would wait for them to time out.
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

/** What Slack would answer for `method`; only the fields our code and tests read. */
function answer(method: string, body: Record<string, unknown>, posted: number): unknown {
  if (method === 'chat.postMessage') {
    const ts = fakeTs(posted);
    const message = {
      type: 'message',
      ts,
      text: body.text,
      blocks: body.blocks,
      ...(body.thread_ts === undefined ? {} : { thread_ts: body.thread_ts }),
    };
    return { ok: true, channel: body.channel, ts, message };
  }
  if (method === 'chat.update') return { ok: true, channel: body.channel, ts: body.ts };
  return { ok: true };
}

/** Slack message ids are `seconds.micros`; each post gets a later one, like the real thing. */
function fakeTs(posted: number): string {
  const micros = posted * 100;
  const seconds = 1_700_000_000 + Math.floor(micros / 1_000_000);
  return `${seconds}.${String(micros % 1_000_000).padStart(6, '0')}`;
}

/**
 * The WebClient sends form bodies with nested values (blocks, attachments) as JSON strings;
 * they are parsed back so tests can assert on structure instead of string contents.
 */
function parseBody(text: string, contentType: string | undefined): Record<string, unknown> {
  if (text === '') return {};
  if (contentType?.includes('application/json')) {
    try {
      const json: unknown = JSON.parse(text);
      return isRecord(json) ? json : { value: json };
    } catch {
      return { raw: text };
    }
  }
  if (contentType?.includes('application/x-www-form-urlencoded')) {
    const body: Record<string, unknown> = {};
    for (const [key, value] of new URLSearchParams(text)) body[key] = maybeJson(value);
    return body;
  }
  return { raw: text };
}

function maybeJson(value: string): unknown {
  if (!/^\s*[[{]/.test(value)) return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

async function waitForCalls(
  calls: RecordedSlackCall[],
  predicate: (calls: RecordedSlackCall[]) => boolean,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate(calls)) {
    if (Date.now() >= deadline) {
      const seen = calls.map(
        (call) => `  ${call.method} ${call.path} -> ${call.status} ${preview(call.body)}`,
      );
      throw new Error(
        `Slack recorder: condition not met within ${timeoutMs} ms; ${calls.length} call(s) seen` +
          (seen.length > 0 ? `:\n${seen.join('\n')}` : ''),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function preview(body: Record<string, unknown>): string {
  const json = JSON.stringify(body);
  return json.length > 200 ? `${json.slice(0, 200)}…` : json;
}
