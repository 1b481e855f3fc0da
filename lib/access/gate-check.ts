import type { Queryable } from '../db/db.js';
import { InvalidInputError } from '../errors.js';
import { listedIn, type ApprovalPolicy } from '../release/approvers.js';
import type { ReleasePlan } from '../release/plan.js';

/**
 * Refuses, before a release starts, an approval gate nobody could ever approve: one that
 * names people who do not exist, or only people and groups the model's approver list
 * excludes. Such a release would otherwise sit at the gate until its timeout.
 */
export async function refuseUnapprovableGates(
  db: Queryable,
  model: string,
  plan: ReleasePlan,
  policy: ApprovalPolicy,
): Promise<void> {
  const { rows } = await db.query<{ name: string; groups: string[] }>(
    'SELECT name, groups FROM identities WHERE NOT disabled',
  );
  const people = new Map(rows.map((row) => [row.name, row.groups]));
  const problems: string[] = [];

  plan.approvals.forEach((gate, index) => {
    const field = `plan.approvals.${index}.approvers`;
    const unknown = gate.approvers.filter(
      (entry) => !entry.startsWith('group:') && !people.has(entry),
    );
    if (unknown.length > 0)
      problems.push(
        `${field}: must name existing identities (no identity ${unknown.join(', ')}; \`mlops identities ls\` lists them)`,
      );
    const canApprove = [...people].some(
      ([name, groups]) =>
        listedIn({ approver: name, groups }, gate.approvers) &&
        (policy.modelApprovers === null ||
          listedIn({ approver: name, groups }, policy.modelApprovers)),
    );
    if (!canApprove)
      problems.push(
        `${field}: nobody can approve this gate: no enabled identity is both named here (${gate.approvers.join(', ')})${policy.modelApprovers === null ? '' : ` and among ${model}'s approvers (${policy.modelApprovers.join(', ')})`}`,
      );
  });
  if (problems.length > 0) throw new InvalidInputError(`plan is invalid: ${problems.join('; ')}`);
}
