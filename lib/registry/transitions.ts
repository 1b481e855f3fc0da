import type { ApprovalStage, VersionStatus } from './types.js';

/**
 * Whether a version in `status` may be approved for `to`. Pure, so the API, activities
 * and tests share one rule: only a live (registered) version moves up; any version may
 * drop back to `none`.
 */
export function approvalRefusal(status: VersionStatus, to: ApprovalStage): string | null {
  if (to === 'none') return null;
  if (status !== 'registered') {
    return `a ${status} version cannot be approved for ${to}; only registered versions can`;
  }
  return null;
}

/** Why `alias` may not point at a version in this state, or null when it may. */
export function aliasRefusal(alias: string, status: VersionStatus): string | null {
  if (status !== 'registered') return `alias ${alias} cannot point at a ${status} version`;
  return null;
}

/** The approval a version gets when an alias moves to it. */
export function approvalForAlias(alias: string, current: ApprovalStage): ApprovalStage {
  if (alias === 'production') return 'production';
  if (alias === 'candidate' && current === 'none') return 'staging';
  return current;
}
