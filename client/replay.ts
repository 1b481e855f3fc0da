import { importSpamAssassin } from '../lib/corpus/spam-assassin.js';
import { splitRows } from '../lib/corpus/snapshot.js';
import type { EmailRow } from '../lib/corpus/email-row.js';

export interface ReplayOptions {
  gatewayUrl: string;
  model: string;
  /** Requests per second. */
  rate: number;
  durationMs: number;
  /** Seconds after a prediction when its true label is sent as feedback; negative: never. */
  labelsAfterSeconds: number;
  /** Stops early when aborted (the caller's Ctrl-C). */
  signal?: AbortSignal;
}

export interface ReplaySummary {
  sent: number;
  answered: number;
  errors: number;
  byVersion: Record<string, number>;
  feedbackSent: number;
  correct: number;
}

/** The held-out e-mails: the newest 20% of the corpus by date, which no demo model trained on. */
export async function heldOutEmails(): Promise<EmailRow[]> {
  const { rows } = await importSpamAssassin();
  return splitRows(rows, { evalFraction: 0.2, trainFraction: 0.8 }).eval;
}

/**
 * Sends real e-mails to the gateway at a steady rate and, `labelsAfterSeconds` later,
 * each one's true label as feedback, like ground truth that arrives late. Requests do
 * not wait for each other, so a slow version shows up as latency, not as a lower rate.
 */
export async function replayTraffic(
  options: ReplayOptions,
  emails: EmailRow[],
): Promise<ReplaySummary> {
  const summary: ReplaySummary = {
    sent: 0,
    answered: 0,
    errors: 0,
    byVersion: {},
    feedbackSent: 0,
    correct: 0,
  };
  const inFlight = new Set<Promise<void>>();
  const started = Date.now();
  const intervalMs = 1000 / options.rate;
  // N a second for D seconds is N x D requests, the last one due just before D is up.
  const total = Math.ceil((options.rate * options.durationMs) / 1000);

  for (let i = 0; i < total && !options.signal?.aborted; i++) {
    const due = started + i * intervalMs;
    if (due > Date.now()) await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
    const email = emails[i % emails.length]!;
    const request = sendOne(options, email, summary).finally(() => inFlight.delete(request));
    inFlight.add(request);
    summary.sent += 1;
  }
  await Promise.all(inFlight);
  return summary;
}

async function sendOne(
  options: ReplayOptions,
  email: EmailRow,
  summary: ReplaySummary,
): Promise<void> {
  const response = await fetch(
    `${options.gatewayUrl}/v1/models/${encodeURIComponent(options.model)}/predict`,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        input: { subject: email.subject, from: email.from, body: email.body },
      }),
    },
  ).catch(() => null);
  if (!response?.ok) {
    summary.errors += 1;
    return;
  }
  const answer = (await response.json()) as {
    predictionId: string;
    version: number;
    label: string;
  };
  summary.answered += 1;
  summary.byVersion[answer.version] = (summary.byVersion[answer.version] ?? 0) + 1;
  if (answer.label === email.label) summary.correct += 1;
  if (options.labelsAfterSeconds < 0) return;

  await new Promise((resolve) => setTimeout(resolve, options.labelsAfterSeconds * 1000));
  // A gateway answers 503 when it cannot decide yet (the prediction is not written, or the
  // database is unreachable): try again a few times, as its Retry-After says.
  for (let attempt = 1; attempt <= 3; attempt++) {
    const feedback = await fetch(`${options.gatewayUrl}/v1/feedback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ predictionId: answer.predictionId, label: email.label }),
    }).catch(() => null);
    if (feedback?.ok) summary.feedbackSent += 1;
    if (feedback?.status !== 503 || options.signal?.aborted) return;
    const retryAfterSeconds = Number(feedback.headers.get('retry-after')) || 1;
    await new Promise((resolve) => setTimeout(resolve, retryAfterSeconds * 1000));
  }
}
