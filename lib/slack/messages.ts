import { z } from 'zod';

/** What a Slack notice shows of one release: where it is, its traffic split, what it waits on. */
export interface ReleaseNotice {
  model: string;
  version: number;
  stable: number | null;
  /** e.g. 'awaiting-approval', 'canary', 'promoted', 'rolled-back', 'done'. */
  stage: string;
  /** 'running' | 'promoted' | 'rolled-back' | 'rejected' | 'aborted' | 'reverted' | 'failed'. */
  outcome: string;
  /** Version -> basis points of live traffic (10000 = 100%). */
  weights: Record<string, number>;
  /** e.g. 'approval from one of alice, group:ml-leads' while a gate is open; null otherwise. */
  waitingFor: string | null;
  /** The last round of checks; empty before the first round. */
  checks: Array<{ verdict: string; reason: string }>;
  /** Temporal UI link of the release workflow. */
  uiUrl: string;
  /** One line: the latest transition's details. */
  latest: string;
}

/** action_id of the Approve button; the interaction handler routes on it. */
export const APPROVE_ACTION_ID = 'mlops_release_approve';
/** action_id of the Reject button; the interaction handler routes on it. */
export const REJECT_ACTION_ID = 'mlops_release_reject';

/** The value each button carries: which release it acts on. */
export interface ReleaseButtonValue {
  model: string;
  version: number;
}

const ReleaseButtonValueSchema = z.object({
  model: z.string().min(1),
  version: z.number().int().positive(),
});

// Slack refuses a whole message when one text object is over its limit, so every text
// we did not write ourselves is cut well below: 3000 chars for section and context text.
const SECTION_TEXT_LIMIT = 3000;
const REASON_LIMIT = 300;
const LINE_LIMIT = 500;

/**
 * The release's status message, posted once and then updated in place: title, stage and
 * outcome, traffic split, the last checks, a Temporal UI link, and Approve / Reject buttons
 * only while the release waits for approval. `text` is the notification fallback.
 */
export function releaseMessage(notice: ReleaseNotice): { text: string; blocks: unknown[] } {
  const title = `*${escape(notice.model)} v${notice.version}*`;
  const stable = notice.stable === null ? 'none' : `v${notice.stable}`;
  const waiting = notice.waitingFor
    ? `\nWaiting for ${escape(clip(notice.waitingFor, LINE_LIMIT))}`
    : '';

  const blocks: unknown[] = [
    mrkdwnSection(
      `${title} · stage \`${escape(notice.stage)}\` · ${escape(words(notice.outcome))}\n` +
        `${escape(clip(notice.latest, LINE_LIMIT))}${waiting}`,
    ),
    {
      type: 'section',
      fields: [
        mrkdwn(`*Traffic*\n${formatWeights(notice.weights)}`),
        mrkdwn(`*Stable*\n${stable}`),
      ],
    },
    { type: 'context', elements: [mrkdwn(formatChecks(notice.checks))] },
    mrkdwnSection(`<${notice.uiUrl}|Open in Temporal UI>`),
  ];
  if (awaitsApproval(notice)) blocks.push(approvalActions(notice));

  const text =
    `${notice.model} v${notice.version}: ${notice.stage}, ${words(notice.outcome)}; ` +
    `traffic ${formatWeights(notice.weights)}` +
    (notice.waitingFor ? `; waiting for ${clip(notice.waitingFor, LINE_LIMIT)}` : '');
  return { text: escape(text), blocks };
}

/**
 * The short reply threaded under the status message when a release ends, e.g.
 * `spam-filter v2 promoted` or `spam-filter v3 rolled back: <reason>`; an empty reason is
 * left out.
 */
export function outcomeMessage(notice: ReleaseNotice & { reason: string }): {
  text: string;
  blocks: unknown[];
} {
  const reason = notice.reason.trim() === '' ? '' : `: ${clip(notice.reason, REASON_LIMIT)}`;
  const summary = escape(`${words(notice.outcome)}${reason}`);
  const text = `${escape(notice.model)} v${notice.version} ${summary}`;
  const link = `<${notice.uiUrl}|Temporal UI>`;
  const rich = `*${escape(notice.model)} v${notice.version}* ${summary} · ${link}`;
  return { text, blocks: [mrkdwnSection(rich)] };
}

/**
 * Reads a button's value back into the release it acts on. Throws an Error naming the value
 * when it is not JSON of `{ model, version }`: such a click did not come from our message.
 */
export function parseButtonValue(value: string): ReleaseButtonValue {
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    throw new Error(`button value ${JSON.stringify(clip(value, 200))} is not JSON`);
  }

  const parsed = ReleaseButtonValueSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((issue) => `${issue.path.join('.') || 'value'}: ${issue.message}`)
      .join('; ');
    throw new Error(
      `button value ${JSON.stringify(clip(value, 200))} is not a release {model, version}: ${problems}`,
    );
  }
  return parsed.data;
}

function awaitsApproval(notice: ReleaseNotice): boolean {
  return notice.waitingFor?.startsWith('approval') ?? false;
}

function approvalActions(notice: ReleaseNotice): unknown {
  const value: ReleaseButtonValue = { model: notice.model, version: notice.version };
  const button = (text: string, actionId: string, style: 'primary' | 'danger') => ({
    type: 'button',
    text: { type: 'plain_text', text },
    style,
    action_id: actionId,
    value: JSON.stringify(value),
  });
  return {
    type: 'actions',
    elements: [
      button('Approve', APPROVE_ACTION_ID, 'primary'),
      button('Reject', REJECT_ACTION_ID, 'danger'),
    ],
  };
}

/** `v1 95% · v2 5%`, versions in ascending order. */
function formatWeights(weights: Record<string, number>): string {
  const entries = Object.entries(weights).sort(([a], [b]) => Number(a) - Number(b));
  if (entries.length === 0) return 'no route';
  return entries
    .map(([version, basisPoints]) => `v${version} ${Number((basisPoints / 100).toFixed(2))}%`)
    .join(' · ');
}

function formatChecks(checks: ReleaseNotice['checks']): string {
  if (checks.length === 0) return 'No checks yet';
  const lines = checks.map((check) =>
    escape(`${check.verdict}: ${clip(check.reason, REASON_LIMIT)}`),
  );
  return clip(`Last checks\n${lines.join('\n')}`, SECTION_TEXT_LIMIT);
}

function mrkdwnSection(text: string): unknown {
  return { type: 'section', text: mrkdwn(clip(text, SECTION_TEXT_LIMIT)) };
}

function mrkdwn(text: string): { type: 'mrkdwn'; text: string } {
  return { type: 'mrkdwn', text };
}

/** 'rolled-back' reads as 'rolled back' in a sentence. */
function words(slug: string): string {
  return slug.replaceAll('-', ' ');
}

/** Cuts text we did not write to `max` characters, so one long reason cannot fill a message. */
function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Slack reads `<`, `>` and `&` as markup in mrkdwn and in the fallback text. */
function escape(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}
