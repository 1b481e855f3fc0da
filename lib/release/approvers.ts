/**
 * Who may decide at a release's approval gates. Pure code: the release workflow's Update
 * validators run it, so it must not touch I/O, clocks or randomness.
 */

/** The caller of an approval, as the API or the Slack bridge verified them. */
export interface Approver {
  approver: string;
  groups?: string[];
}

/** The model's standing rules, read from the database when the release starts. */
export interface ApprovalPolicy {
  /** Approvers the model's owners set (people or `group:` entries); null when none are set. */
  modelApprovers: string[] | null;
  /** False when the person who started a release may not approve it. */
  starterMayApprove: boolean;
  /** Where approval requests and notices go; null sends none. */
  slackChannel: string | null;
}

export const OPEN_POLICY: ApprovalPolicy = {
  modelApprovers: null,
  starterMayApprove: true,
  slackChannel: null,
};

/** True when one of the entries names this person or one of their groups. */
export function listedIn(who: Approver, entries: readonly string[]): boolean {
  return entries.some((entry) =>
    entry.startsWith('group:')
      ? (who.groups ?? []).includes(entry.slice('group:'.length))
      : entry === who.approver,
  );
}

/**
 * Why this person may not decide, or null when they may. A plan's gate names who may
 * approve; the model's approver list, when set, bounds it, so a plan cannot widen who
 * approves its own release.
 */
export function approvalRefusal(input: {
  who: Approver;
  model: string;
  gateApprovers: readonly string[];
  policy: ApprovalPolicy;
  requestedBy: string;
}): string | null {
  const { who, model, gateApprovers, policy } = input;
  if (!listedIn(who, gateApprovers))
    return `${who.approver} may not approve releases of ${model} at this gate; approvers: ${gateApprovers.join(', ') || 'none configured'}`;
  if (policy.modelApprovers !== null && !listedIn(who, policy.modelApprovers))
    return `${who.approver} is not among ${model}'s approvers (${policy.modelApprovers.join(', ') || 'none'}); \`mlops access set ${model}\` changes them`;
  if (!policy.starterMayApprove && who.approver === input.requestedBy)
    return `${who.approver} started this release and ${model} requires someone else to approve it`;
  return null;
}
