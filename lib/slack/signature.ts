import crypto from 'node:crypto';

/** How far, in seconds, a request's timestamp may be from our clock, either way. */
export const SLACK_SIGNATURE_WINDOW_SECONDS = 300;

/** Whether a request is Slack's; when not, a reason fit for a log line (no secrets in it). */
export type SignatureVerdict = { ok: true } | { ok: false; reason: string };

const SIGNATURE_VERSION = 'v0';

/**
 * Verifies X-Slack-Signature / X-Slack-Request-Timestamp over the raw body: the HMAC-SHA256
 * of `v0:<timestamp>:<body>` under the signing secret, within SLACK_SIGNATURE_WINDOW_SECONDS
 * of `nowSeconds` (fractions of a second are dropped). Pure; throws only when the signing
 * secret is empty, a programming error.
 */
export function verifySlackSignature(input: {
  signingSecret: string;
  timestamp: string | undefined;
  signature: string | undefined;
  rawBody: Buffer | string;
  nowSeconds: number;
}): SignatureVerdict {
  requireSecret(input.signingSecret);
  const { timestamp, signature } = input;

  if (timestamp === undefined || timestamp === '') {
    return refuse('X-Slack-Request-Timestamp is missing');
  }
  if (signature === undefined || signature === '') return refuse('X-Slack-Signature is missing');

  if (!/^\d{1,15}$/.test(timestamp)) {
    return refuse(
      `X-Slack-Request-Timestamp ${JSON.stringify(clip(timestamp))} is not whole seconds since the epoch`,
    );
  }
  // The window is what stops a captured request from being replayed later.
  const ageSeconds = Math.floor(input.nowSeconds) - Number(timestamp);
  if (Math.abs(ageSeconds) > SLACK_SIGNATURE_WINDOW_SECONDS) {
    const when = ageSeconds > 0 ? `${ageSeconds} s old` : `${-ageSeconds} s in the future`;
    return refuse(
      `X-Slack-Request-Timestamp ${timestamp} is ${when}; the limit is ${SLACK_SIGNATURE_WINDOW_SECONDS} s`,
    );
  }

  if (!signature.startsWith(`${SIGNATURE_VERSION}=`)) {
    return refuse(`X-Slack-Signature does not start with ${SIGNATURE_VERSION}=`);
  }
  const expected = Buffer.from(signSlackRequest(input.signingSecret, timestamp, input.rawBody));
  const given = Buffer.from(signature);
  // timingSafeEqual throws on unequal lengths; a length difference is already a mismatch.
  if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
    return refuse('X-Slack-Signature does not match the body');
  }

  return { ok: true };
}

/**
 * The X-Slack-Signature Slack would send for this body at this timestamp: `v0=` and the hex
 * HMAC-SHA256 of `v0:<timestamp>:<body>`. Used by tests and tools that play Slack.
 */
export function signSlackRequest(
  signingSecret: string,
  timestamp: number | string,
  rawBody: Buffer | string,
): string {
  requireSecret(signingSecret);
  const hmac = crypto.createHmac('sha256', signingSecret);
  hmac.update(`${SIGNATURE_VERSION}:${timestamp}:`);
  // The body is hashed as the bytes received; re-encoding a parsed body would change them.
  hmac.update(rawBody);
  return `${SIGNATURE_VERSION}=${hmac.digest('hex')}`;
}

function requireSecret(signingSecret: string): void {
  if (signingSecret === '') {
    throw new Error(
      'Slack signing secret is empty; requests cannot be verified without it. Set the app signing secret before starting the bridge.',
    );
  }
}

function refuse(reason: string): SignatureVerdict {
  return { ok: false, reason };
}

/** Header values come from anyone on the network; keep what we echo into logs short. */
function clip(value: string): string {
  return value.length > 40 ? `${value.slice(0, 40)}…` : value;
}
