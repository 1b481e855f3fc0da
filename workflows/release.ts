import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  CancellationScope,
  condition,
  ContinueAsNew,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  isCancellation,
  patched,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { NoticeInput } from '../activities/notices.js';
import { formatZodError } from '../lib/errors.js';
import { approvalRefusal, OPEN_POLICY, type ApprovalPolicy } from '../lib/release/approvers.js';
import { evaluateCheck, roundVerdict, type CheckResult } from '../lib/release/checks.js';
import {
  durationMs,
  ReleasePlanSchema,
  type ApprovalGate,
  type Check,
  type ReleasePlan,
} from '../lib/release/plan.js';
import { DATA_ACTIVITY } from '../lib/temporal/activity-options.js';
import { MlopsModel, MlopsOutcome, MlopsStage, MlopsVersion } from '../lib/temporal/conventions.js';

export interface ReleaseInput {
  model: string;
  version: number;
  /** The plan as the CLI read it; validated here too, before any traffic moves. */
  plan: unknown;
  requestedBy: string;
  /** Set by the release itself when it continues as new: where it was, and what it knew. */
  resume?: ReleaseCheckpoint;
  /**
   * Continue as new once a run's history reaches this many events (default 2,000), so a
   * post-promotion watch of hours never nears Temporal's history limits.
   */
  historyLimit?: number;
}

/** A phase whose checks run in a loop, and so may span several runs. */
export type LoopPhase =
  'waiting-for-route' | 'first-release' | 'shadow' | 'step' | 'post-promotion';

/** A run of checks in progress: when its window began and its current streaks. */
export interface RoundState {
  startedMs: number;
  failures: number;
  inconclusive: number;
}

/**
 * What a release carries into its next run. The phase's setup (approvals, route change,
 * transition) happened in an earlier run and is not repeated; its checks carry on.
 */
export interface ReleaseCheckpoint {
  phase: LoopPhase;
  /** For `step`: which step (from 0). */
  stepIndex: number;
  round: RoundState | null;
  /** The window of the step before, for comparisons at 100% (the stable version has no traffic). */
  previousStep: { fromMs: number; toMs: number } | null;
  status: ReleaseStatus;
  policy: ApprovalPolicy;
  /** Decisions accepted in the run that ended; the new run acts on them at once. */
  abort: ApprovalInput | null;
  promoteNow: ApprovalInput | null;
  /** Keys of audit rows and route changes go on counting, so a retried one stays idempotent. */
  transitions: number;
  routeChanges: number;
  noticeFailures: number;
  noticeOpen: boolean;
}

export type ReleaseOutcome =
  'running' | 'promoted' | 'rolled-back' | 'rejected' | 'aborted' | 'reverted' | 'failed';

export interface ReleaseEvent {
  at: string;
  event: string;
  details: string;
}

export interface ReleaseStatus {
  model: string;
  version: number;
  stable: number | null;
  stage: string;
  step: number;
  steps: number;
  weights: Record<string, number>;
  paused: boolean;
  waitingFor: string | null;
  outcome: ReleaseOutcome;
  /** How many Temporal runs the release has taken: long ones continue as new. */
  runs: number;
  recentChecks: Array<{ at: string; verdict: string; results: CheckResult[] }>;
  timeline: ReleaseEvent[];
}

export interface ReleaseResult {
  outcome: ReleaseOutcome;
  reason: string;
  status: ReleaseStatus;
}

/** Who acts on a release, as the API or the Slack bridge verified them. */
export interface ApprovalInput {
  /** The project identity. */
  approver: string;
  /** The identity's groups, for `group:` entries in approver lists. */
  groups?: string[];
  channel: 'cli' | 'slack' | 'api';
  /** The Slack member id and name when the decision came from Slack. */
  slackUserId?: string;
  slackUserName?: string;
  reason?: string;
}

export const releaseStatusQuery = defineQuery<ReleaseStatus>('status');
export const approveUpdate = defineUpdate<string, [ApprovalInput]>('approve');
export const rejectUpdate = defineUpdate<string, [ApprovalInput]>('reject');
export const abortUpdate = defineUpdate<string, [ApprovalInput]>('abort');
export const promoteUpdate = defineUpdate<string, [ApprovalInput]>('promote');
export const pauseSignal = defineSignal<[ApprovalInput]>('pause');
export const resumeSignal = defineSignal<[ApprovalInput]>('resume');

const act = proxyActivities<Activities>(DATA_ACTIVITY);
// Checks read metrics that may be briefly unavailable; they report that as inconclusive.
const checks = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 2 },
});
// Waiting for replicas can take minutes; the heartbeat lets a crashed worker's wait be retried
// within seconds instead of after the whole timeout.
const routing = proxyActivities<Activities>({
  startToCloseTimeout: '5m',
  heartbeatTimeout: '5s',
  retry: { initialInterval: '1s', maximumAttempts: 5 },
});
// Slack being down must never hold a release: a few quick tries, then an audit row.
const notifier = proxyActivities<Activities>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumAttempts: 3 },
});

/** Thrown inside the workflow when the release must stop and restore stable traffic. */
class StopRelease extends Error {
  constructor(
    readonly outcome: Exclude<ReleaseOutcome, 'running' | 'promoted'>,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Releases one model version to live traffic: claim the model's route, load the
 * candidate on every gateway replica, mirror traffic to it in a shadow window, then move
 * traffic step by step, checking health on a timer. Failing checks, an inconclusive
 * streak, a rejection, an abort or any error restores the stable version's traffic
 * before the workflow ends. Passing every step promotes the candidate to `production`.
 */
export async function releaseWorkflow(input: ReleaseInput): Promise<ReleaseResult> {
  const { workflowId: releaseId, firstExecutionRunId } = workflowInfo();
  // This execution of the release, the same in every run it continues as.
  const executionRun = `${releaseId}#${firstExecutionRunId}`;
  const plan = validatePlan(input.plan);
  // A version released again reuses its workflow id, so the keys that make this release's
  // writes idempotent (route changes, audit rows, its row in `releases`) name the execution:
  // with the workflow id alone, a second release found the first one's route changes done.
  // Runs it continues as keep the first run's id. Releases from before replay as they ran.
  const executionKey = patched('keys-per-release-execution') ? executionRun : releaseId;
  const resume = input.resume ?? null;
  const status: ReleaseStatus = resume?.status ?? {
    model: input.model,
    version: input.version,
    stable: null,
    stage: 'starting',
    step: 0,
    steps: plan.steps.length,
    weights: {},
    paused: false,
    waitingFor: null,
    outcome: 'running',
    runs: 1,
    recentChecks: [],
    timeline: [],
  };
  const control = {
    abort: resume?.abort ?? null,
    promoteNow: resume?.promoteNow ?? null,
    gate: null as ApprovalGate | null,
    decision: null as { approved: boolean; by: ApprovalInput } | null,
  };
  let transitions = resume?.transitions ?? 0;
  let routeChanges = resume?.routeChanges ?? 0;
  // Null until the release has read its model's policy; validators refuse until then.
  let policy: ApprovalPolicy | null = resume?.policy ?? null;

  // Notices go out in order, in the background: the release never waits on Slack mid-way.
  let notices: Promise<void> = Promise.resolve();
  let noticeFailures = resume?.noticeFailures ?? 0;
  // The message opens at the first approval gate, or at the end when the release did not
  // promote (someone should look); from then on every transition updates it in place.
  let noticeOpen = resume?.noticeOpen ?? false;
  const notify = (final?: { reason: string }): void => {
    if (!policy?.slackChannel) return;
    noticeOpen ||=
      status.stage === 'awaiting-approval' ||
      (final !== undefined && status.outcome !== 'promoted');
    if (!noticeOpen) return;
    const notice: NoticeInput = {
      releaseId,
      // Every run of one release execution updates the same message.
      releaseRun: executionRun,
      channel: policy.slackChannel,
      model: input.model,
      version: input.version,
      stable: status.stable,
      stage: status.stage,
      outcome: status.outcome,
      weights: { ...status.weights },
      waitingFor: status.waitingFor,
      checks: (status.recentChecks.at(-1)?.results ?? []).map(({ verdict, reason }) => ({
        verdict,
        reason,
      })),
      latest: status.timeline.at(-1)?.details ?? '',
      final,
    };
    notices = notices
      .then(() => notifier.postReleaseNotice(notice))
      .then(
        () => undefined,
        async (error: unknown) => {
          noticeFailures += 1;
          const message = failureMessage(error);
          log.warn('slack notice failed', {
            model: input.model,
            version: input.version,
            stage: notice.stage,
            error: message,
          });
          await act.auditTransition({
            actor: 'release-controller',
            key: `${executionKey}/notice-failed/${noticeFailures}`,
            action: 'release.notice-failed',
            model: input.model,
            version: input.version,
            details: { releaseId, stage: notice.stage, channel: notice.channel, error: message },
          });
        },
      );
  };

  const releaseRow = (stage: string) => ({
    releaseId: executionKey,
    model: input.model,
    version: input.version,
    stableVersion: status.stable,
    stage,
    outcome: status.outcome,
    plan: plan as unknown as Record<string, unknown>,
    summary: { weights: status.weights, step: status.step },
  });
  const record = (stage: string) => act.recordRelease(releaseRow(stage));

  const transition = async (
    stage: string,
    details: string,
    final?: { reason: string },
  ): Promise<void> => {
    status.stage = stage;
    status.timeline.push({ at: new Date().toISOString(), event: stage, details });
    upsertSearchAttributes([{ key: MlopsStage, value: stage }]);
    setCurrentDetails(timelineMarkdown(status));
    log.info('release transition', { model: input.model, version: input.version, stage, details });
    transitions += 1;
    const audit = {
      actor: 'release-controller',
      key: `${executionKey}/${transitions}`,
      action: `release.${stage}`,
      model: input.model,
      version: input.version,
      details: { releaseId, details, weights: status.weights },
    };
    // The release's row follows its stage (`mlops release ls`), in the same activity as the
    // audit row, so a release's history gains no events; `finish` records the end.
    if (stage !== 'done' && patched('record-every-stage'))
      await act.recordTransition({ audit, release: releaseRow(stage) });
    else await act.auditTransition(audit);
    notify(final);
  };

  setHandler(releaseStatusQuery, () => status);
  const isOver = (): boolean => status.outcome !== 'running';
  const refuseWhenOver = (): void => {
    if (isOver())
      throw new Error(`release ${releaseId} is over (${status.outcome}); nothing was changed`);
  };
  // An open gate names its approvers; promoting early needs anyone the plan, or else the
  // model's own list, names. The model's list bounds both.
  const requireApprover = (who: ApprovalInput, gate: ApprovalGate | null): void => {
    if (!policy)
      throw new Error(`release ${releaseId} is still starting; try again in a few seconds`);
    const gateApprovers =
      gate?.approvers ??
      (plan.approvals.length > 0
        ? plan.approvals.flatMap((candidate) => candidate.approvers)
        : (policy.modelApprovers ?? []));
    const refusal = approvalRefusal({
      who,
      model: input.model,
      gateApprovers,
      policy,
      requestedBy: input.requestedBy,
    });
    if (refusal) throw new Error(refusal);
  };
  // Approve and reject answer the same gate: only while one is open, only by its approvers.
  const gateValidator = (who: ApprovalInput): void => {
    refuseWhenOver();
    if (!control.gate || control.decision) {
      throw new Error(
        `release ${releaseId} is not waiting for an approval (stage ${status.stage})`,
      );
    }
    requireApprover(who, control.gate);
  };
  const decide = (approved: boolean) => (who: ApprovalInput) => {
    control.decision = { approved, by: who };
    return `${approved ? 'approved' : 'rejected'} by ${who.approver}`;
  };
  setHandler(approveUpdate, decide(true), { validator: gateValidator });
  setHandler(rejectUpdate, decide(false), { validator: gateValidator });
  setHandler(
    abortUpdate,
    (who) => {
      control.abort = who;
      return `aborting: stable traffic is being restored`;
    },
    {
      validator: (_who: ApprovalInput) => {
        refuseWhenOver();
        if (control.abort || control.promoteNow)
          throw new Error(
            `release ${releaseId} is already ${control.abort ? 'aborting' : 'promoting'}`,
          );
      },
    },
  );
  setHandler(
    promoteUpdate,
    (who) => {
      control.promoteNow = who;
      return `promoting now`;
    },
    {
      validator: (who) => {
        refuseWhenOver();
        if (control.abort || control.promoteNow)
          throw new Error(
            `release ${releaseId} is already ${control.abort ? 'aborting' : 'promoting'}`,
          );
        requireApprover(who, null);
      },
    },
  );
  const note = (event: string, details: string): void => {
    status.timeline.push({ at: new Date().toISOString(), event, details });
    setCurrentDetails(timelineMarkdown(status));
  };
  setHandler(pauseSignal, (who) => {
    if (isOver() || status.paused) return;
    status.paused = true;
    note('paused', `by ${who.approver} (${who.channel}): checks go on, steps do not advance`);
  });
  setHandler(resumeSignal, (who) => {
    if (!status.paused) return;
    status.paused = false;
    note('resumed', `by ${who.approver} (${who.channel})`);
  });

  upsertSearchAttributes([
    { key: MlopsModel, value: input.model },
    { key: MlopsVersion, value: String(input.version) },
    { key: MlopsOutcome, value: 'running' },
    ...(resume ? [{ key: MlopsStage, value: status.stage }] : []),
  ]);
  if (resume) setCurrentDetails(timelineMarkdown(status));

  // A loop that has run long enough hands over to a new run of this release, carrying
  // where it was; decisions accepted before the handover travel with it.
  const historyLimit = input.historyLimit ?? 2_000;
  const continueIfLong = async (
    phase: LoopPhase,
    stepIndex: number,
    round: RoundState | null,
    previousStep: { fromMs: number; toMs: number } | null = null,
  ): Promise<void> => {
    const info = workflowInfo();
    if (info.historyLength < historyLimit && !info.continueAsNewSuggested) return;
    // Runs that grew long before this rule existed replay as they ran.
    if (!patched('continue-as-new-long-loops')) return;
    await notices;
    await condition(allHandlersFinished);
    status.runs += 1;
    // One timeline line for a streak of handovers: a watch of hours takes many.
    if (status.timeline.at(-1)?.event === 'continued-as-new') status.timeline.pop();
    note(
      'continued-as-new',
      `now in run ${status.runs}; the last run ended after ${info.historyLength} events`,
    );
    log.info('release continues as new', {
      model: input.model,
      version: input.version,
      phase,
      events: info.historyLength,
    });
    const checkpoint: ReleaseCheckpoint = {
      phase,
      stepIndex,
      round,
      previousStep,
      status,
      policy: policy!,
      abort: control.abort,
      promoteNow: control.promoteNow,
      transitions,
      routeChanges,
      noticeFailures,
      noticeOpen,
    };
    await continueAsNew<typeof releaseWorkflow>({ ...input, resume: checkpoint });
  };

  // A resumed release skips the phases an earlier run finished, and the setup of the phase
  // it was in. Waiting for the route is redone from the start: it changed nothing.
  const rankOf = (phase: LoopPhase, stepIndex = 0): number =>
    ({ 'waiting-for-route': -1, 'first-release': 1, shadow: 2, step: 10, 'post-promotion': 1e6 })[
      phase
    ] + (phase === 'step' ? stepIndex : 0);
  const resumeRank = resume ? rankOf(resume.phase, resume.stepIndex) : -1;
  /** True when an earlier run finished this phase. */
  const finishedEarlier = (phase: LoopPhase, stepIndex = 0): boolean =>
    rankOf(phase, stepIndex) < resumeRank;
  /** The round to carry on when an earlier run was inside this phase; undefined otherwise. */
  const resumedIn = (phase: LoopPhase, stepIndex = 0): RoundState | undefined =>
    resumeRank >= 0 && rankOf(phase, stepIndex) === resumeRank
      ? (resume!.round ?? undefined)
      : undefined;
  const setUpEarlier = (phase: LoopPhase, stepIndex = 0): boolean =>
    rankOf(phase, stepIndex) <= resumeRank;

  // Read-only lookups come before the route is claimed: a version that does not exist must
  // fail the release without holding the route of its model.
  const lookUpCandidate = async (): Promise<Awaited<ReturnType<typeof act.getModelVersion>>> => {
    try {
      return await act.getModelVersion({ model: input.model, version: input.version });
    } catch (error) {
      status.outcome = 'failed';
      upsertSearchAttributes([
        { key: MlopsOutcome, value: 'failed' },
        { key: MlopsStage, value: 'done' },
      ]);
      throw error;
    }
  };

  // Only one release owns a model's route; a newer release waits for the older to end, and
  // may be aborted while it waits. True when it was aborted.
  const claimRouteOrAbort = async (): Promise<boolean> => {
    for (;;) {
      const { owner } = await act.claimRoute({ model: input.model, releaseId });
      if (owner === releaseId) break;
      if (status.stage !== 'waiting-for-route') {
        await transition('waiting-for-route', `release ${owner} owns the route of ${input.model}`);
      }
      status.waitingFor = `release ${owner} owns the route of ${input.model}`;
      if (await condition(() => control.abort !== null, '10s')) return true;
      await continueIfLong('waiting-for-route', 0, null);
    }
    status.waitingFor = null;
    return false;
  };

  // A release resumed past the route's claim has its policy, route and stable version.
  let candidate: Awaited<ReturnType<typeof act.getModelVersion>> | null = null;
  if (resumeRank < 0) {
    // Releases started before approval policies existed replay without reading one.
    policy ??= patched('approval-policy-and-slack-notices')
      ? await act.getApprovalPolicy({ model: input.model })
      : OPEN_POLICY;

    // Releases started before the lookup moved ahead of the claim replay in their old order.
    let abortedWaiting: boolean;
    if (patched('look-up-candidate-before-claiming-route')) {
      candidate = await lookUpCandidate();
      abortedWaiting = await claimRouteOrAbort();
    } else {
      abortedWaiting = await claimRouteOrAbort();
      candidate = await lookUpCandidate();
    }
    if (abortedWaiting) {
      const reason = `aborted by ${control.abort!.approver} (${control.abort!.channel}) while waiting for the route; traffic was never touched`;
      await finish('aborted', reason);
      return { outcome: 'aborted', reason, status };
    }

    const stable = await act.findAliasedVersion({ model: input.model, alias: 'production' });
    status.stable = stable?.version ?? null;
  }

  const leavesCandidateCold = (purpose: string): boolean =>
    ['rollback', 'revert', 'withdraw'].includes(purpose) &&
    patched('rollback-leaves-candidate-cold');
  const setWeights = async (
    purpose: string,
    candidateBp: number,
    shadowPercent = 0,
  ): Promise<void> => {
    // With no stable version the candidate has all the traffic, or none (withdrawn).
    const weights: Record<string, number> =
      status.stable === null
        ? { [input.version]: candidateBp }
        : { [status.stable]: 10_000 - candidateBp, [input.version]: candidateBp };
    routeChanges += 1;
    const { generation } = await routing.setRouteWeights({
      model: input.model,
      releaseId,
      key: `${executionKey}/${routeChanges}/${purpose}`,
      weights,
      shadow: shadowPercent > 0 ? { version: input.version, percent: shadowPercent } : null,
      // Going back leaves the candidate cold: replicas stop holding (or retrying) it.
      warm: leavesCandidateCold(purpose) ? [] : [input.version],
      sticky: plan.sticky,
    });
    status.weights = weights;
    await routing.awaitRouteApplied({
      model: input.model,
      generation,
      weights,
      ready: Object.entries(weights)
        .filter(([, bp]) => bp > 0)
        .map(([version]) => Number(version))
        // Loading and mirroring need the candidate verified; a rollback must not wait for it.
        .concat(purpose === 'load' || shadowPercent > 0 ? [input.version] : []),
      timeoutMs: durationMs(plan.loadTimeout),
    });
  };

  const runChecks = async (options: {
    /** Where the checks run: names them in verdicts and in a handover to a new run. */
    phase: Exclude<LoopPhase, 'waiting-for-route'>;
    stepIndex?: number;
    bake: string;
    interval: string;
    list: Check[];
    stableWindow?: { fromMs: number; toMs: number } | null;
  }): Promise<'passed' | 'promote-now'> => {
    const { bake, interval, list, stableWindow = null, stepIndex = 0 } = options;
    const phase =
      options.phase === 'step'
        ? `step ${stepIndex + 1}`
        : options.phase === 'first-release'
          ? 'first release'
          : options.phase;
    // The round an earlier run of this release was in, when it handed over in this phase.
    const from = resumedIn(options.phase, stepIndex);
    const startedMs = from?.startedMs ?? Date.now();
    let failures = from?.failures ?? 0;
    let inconclusive = from?.inconclusive ?? 0;
    // Promote now skips what is left before promotion, never the watch after it; releases
    // from before this rule replay as they ran (the watch ended at once).
    const skippable =
      options.phase !== 'post-promotion' || !patched('promote-now-keeps-post-promotion-watch');
    for (;;) {
      await condition(
        () => control.abort !== null || (skippable && control.promoteNow !== null),
        interval,
      );
      if (control.abort)
        throw new StopRelease(
          'aborted',
          `aborted by ${control.abort.approver} (${control.abort.channel})${control.abort.reason ? `: ${control.abort.reason}` : ''}`,
        );
      if (skippable && control.promoteNow) return 'promote-now';

      const evaluation = checks.evaluateChecks({
        model: input.model,
        candidate: input.version,
        stable: options.phase === 'post-promotion' ? null : status.stable,
        fromMs: startedMs,
        toMs: Date.now(),
        // At 100% the stable version gets no traffic; compare with its last window that had some.
        stableFromMs: stableWindow?.fromMs,
        stableToMs: stableWindow?.toMs,
        checks: list,
      });
      // A round whose evaluation itself failed (timed out, crashed) is inconclusive, never a
      // pass; releases from before this rule replay as they ran, rolling back at once.
      const results: CheckResult[] = patched('failed-check-round-is-inconclusive')
        ? await evaluation.catch((error: unknown) =>
            list.map((check) => inconclusiveRound(check, error)),
          )
        : await evaluation;
      const verdict = roundVerdict(results);
      status.recentChecks = [
        ...status.recentChecks,
        { at: new Date().toISOString(), verdict, results },
      ].slice(-10);
      setCurrentDetails(timelineMarkdown(status));
      if (verdict === 'fail') {
        failures += 1;
        inconclusive = 0;
        if (failures >= plan.failureLimit)
          throw new StopRelease(
            'rolled-back',
            `${phase}: checks failed ${failures} times in a row: ${results
              .filter((r) => r.verdict === 'fail')
              .map((r) => r.reason)
              .join('; ')}`,
          );
      } else if (verdict === 'inconclusive') {
        inconclusive += 1;
        failures = 0;
        if (inconclusive >= plan.inconclusiveLimit)
          throw new StopRelease(
            'rolled-back',
            `${phase}: checks inconclusive ${inconclusive} times in a row: ${results
              .filter((r) => r.verdict === 'inconclusive')
              .map((r) => r.reason)
              .join('; ')}`,
          );
      } else {
        failures = 0;
        inconclusive = 0;
      }

      const baked = Date.now() - startedMs >= durationMs(bake);
      if (baked && verdict === 'pass' && !status.paused) {
        // The values that let the phase pass stay in the timeline after the last rounds roll on.
        note('checks-passed', `${phase}: ${results.map((result) => result.reason).join('; ')}`);
        return 'passed';
      }
      status.waitingFor = status.paused
        ? 'paused by an operator'
        : baked
          ? `bake time is over but the last round was ${verdict}; waiting for a passing round or a person`
          : null;
      await continueIfLong(
        options.phase,
        stepIndex,
        { startedMs, failures, inconclusive },
        stableWindow,
      );
    }
  };

  const awaitApproval = async (before: number | 'promotion'): Promise<void> => {
    for (const gate of plan.approvals.filter((candidateGate) => candidateGate.before === before)) {
      control.gate = gate;
      control.decision = null;
      status.waitingFor = `approval from one of ${gate.approvers.join(', ')}`;
      await transition(
        'awaiting-approval',
        `before ${before === 'promotion' ? 'promotion' : `step ${before}`}: ${status.waitingFor}`,
      );
      const decided = await condition(
        () => control.decision !== null || control.abort !== null,
        gate.onTimeout === 'wait' ? undefined : gate.timeout,
      );
      control.gate = null;
      status.waitingFor = null;
      if (control.abort)
        throw new StopRelease(
          'aborted',
          `aborted by ${control.abort.approver} while awaiting approval`,
        );
      if (!decided)
        throw new StopRelease(
          'rejected',
          `no approval within ${gate.timeout}; a timeout never approves`,
        );
      if (!control.decision!.approved)
        throw new StopRelease(
          'rejected',
          `rejected by ${control.decision!.by.approver} (${control.decision!.by.channel})${control.decision!.by.reason ? `: ${control.decision!.by.reason}` : ''}`,
        );
      await transition(
        'approved',
        `by ${control.decision!.by.approver} (${control.decision!.by.channel})`,
      );
      // An approval given while paused moves nothing until an operator resumes; releases
      // from before this rule replay as they ran (on at once).
      if (status.paused && patched('approval-waits-while-paused')) {
        status.waitingFor = 'paused by an operator: approved, goes on when resumed';
        await condition(() => !status.paused || control.abort !== null);
        status.waitingFor = null;
        // Set by the abort handler meanwhile (the narrowing above does not see it).
        const abort = control.abort as ApprovalInput | null;
        if (abort)
          throw new StopRelease(
            'aborted',
            `aborted by ${abort.approver} (${abort.channel}) while paused after approval`,
          );
      }
    }
  };

  let outcome: ReleaseOutcome = 'promoted';
  let reason = '';
  try {
    if (candidate) {
      if (candidate.status !== 'registered')
        throw new StopRelease(
          'rejected',
          `${input.model} v${input.version} is ${candidate.status} and cannot be released`,
        );
      if (status.stable === input.version)
        throw new StopRelease('rejected', `${input.model} v${input.version} is already production`);
      await record('starting');
    }

    if (setUpEarlier('post-promotion')) {
      // An earlier run promoted the candidate; this run goes on watching it.
    } else if (status.stable === null) {
      if (!setUpEarlier('first-release')) {
        if (!plan.allowFirstRelease)
          throw new StopRelease(
            'rejected',
            `${input.model} has no production version and the plan does not allow a first release`,
          );
        await awaitApproval(1);
        await awaitApproval('promotion');
        await transition('first-release', `v${input.version} to 100% (no stable version)`);
        await setWeights('first-release', 10_000);
      }
      // Nothing to compare with yet: hold full traffic for the last step's bake on the absolute checks.
      const absolute = plan.checks.filter((check) => check.against === 'absolute');
      const last = plan.steps.at(-1)!;
      if (absolute.length > 0)
        await runChecks({
          phase: 'first-release',
          bake: last.bake,
          interval: last.checkInterval,
          list: absolute,
        });
    } else {
      if (!setUpEarlier('shadow')) {
        await transition(
          'loading',
          `v${input.version} on every gateway replica, stable v${status.stable} keeps 100%`,
        );
        await setWeights('load', 0);
      }

      if (plan.shadow && !finishedEarlier('shadow')) {
        if (!setUpEarlier('shadow')) {
          await setWeights('shadow', 0, plan.shadow.percent);
          await transition(
            'shadow',
            `${plan.shadow.percent}% mirrored to v${input.version} for ${plan.shadow.duration}`,
          );
        }
        if (plan.shadow.checks.length > 0)
          await runChecks({
            phase: 'shadow',
            bake: plan.shadow.duration,
            interval: plan.shadow.checkInterval,
            list: plan.shadow.checks,
          });
        else await sleep(plan.shadow.duration);
      }

      let promoteNow = false;
      let previousStep = resume?.previousStep ?? null;
      for (const [index, step] of plan.steps.entries()) {
        if (finishedEarlier('step', index)) continue;
        let stepStartedMs = resumedIn('step', index)?.startedMs ?? Date.now();
        if (!setUpEarlier('step', index)) {
          await awaitApproval(index + 1);
          status.step = index + 1;
          stepStartedMs = Date.now();
          await setWeights(`step-${index + 1}`, Math.round(step.weight * 100));
          await transition(
            'canary',
            `step ${index + 1}/${plan.steps.length}: v${input.version} at ${step.weight}% for ${step.bake}`,
          );
        }
        if (
          (await runChecks({
            phase: 'step',
            stepIndex: index,
            bake: step.bake,
            interval: step.checkInterval,
            list: plan.checks,
            stableWindow: step.weight === 100 ? previousStep : null,
          })) === 'promote-now'
        ) {
          promoteNow = true;
          await transition(
            'promote-now',
            `by ${control.promoteNow!.approver} (${control.promoteNow!.channel})`,
          );
          break;
        }
        previousStep = { fromMs: stepStartedMs, toMs: Date.now() };
      }
      if (!promoteNow) await awaitApproval('promotion');
      await setWeights('promote', 10_000);
    }

    if (!setUpEarlier('post-promotion')) {
      await act.promoteVersion({
        model: input.model,
        version: input.version,
        releaseId,
        actor: input.requestedBy,
      });
      await transition(
        'promoted',
        `production is v${input.version}${status.stable === null ? '' : `; rollback target v${status.stable}`}`,
      );
    }

    if (plan.postPromotion && status.stable !== null) {
      try {
        await runChecks({
          phase: 'post-promotion',
          bake: plan.postPromotion.watch,
          interval: plan.postPromotion.checkInterval,
          list: plan.postPromotion.checks,
        });
      } catch (error) {
        if (!(error instanceof StopRelease)) throw error;
        await CancellationScope.nonCancellable(async () => {
          await setWeights('revert', 0);
          await act.revertPromotion({
            model: input.model,
            version: status.stable!,
            releaseId,
            reason: error.message,
          });
        });
        throw new StopRelease('reverted', error.message);
      }
    }
    reason = `v${input.version} promoted`;
  } catch (caught) {
    // Handing over to the next run is not an ending.
    if (caught instanceof ContinueAsNew) throw caught;
    const error = asExpectedFailure(caught);
    outcome =
      error instanceof StopRelease
        ? error.outcome
        : isCancellation(error)
          ? 'aborted'
          : 'rolled-back';
    reason = error instanceof Error ? error.message : String(error);
    if (outcome !== 'reverted') {
      await CancellationScope.nonCancellable(async () => {
        // A release stopped before it moved any traffic leaves the route alone: "restoring"
        // stable would write a route, and with stable equal to the candidate withdraw it.
        // Releases from before this rule replay as they ran.
        const touchedRoute = routeChanges > 0 || !patched('no-rollback-without-route-change');
        if (status.stable !== null && touchedRoute) {
          await setWeights('rollback', 0);
          await transition('rolled-back', `stable v${status.stable} at 100%: ${reason}`);
        } else if (
          status.stable === null &&
          routeChanges > 0 &&
          patched('first-release-rollback-withdraws')
        ) {
          // Before a first release the model served nothing; rolling back restores that.
          await setWeights('withdraw', 0);
          await transition(
            'rolled-back',
            `no stable version to restore: v${input.version} withdrawn, ${input.model} serves nothing until a release succeeds: ${reason}`,
          );
        } else {
          await transition(
            'rolled-back',
            routeChanges > 0
              ? `no stable version to restore; v${input.version} keeps the traffic it has: ${reason}`
              : `no traffic was moved: ${reason}`,
          );
        }
      });
    }
    if (!(error instanceof StopRelease)) {
      // An unexpected failure: traffic is safe again; now let the history show the error.
      await finish(outcome, reason);
      throw error;
    }
  }
  await finish(outcome, reason);
  return { outcome, reason, status };

  async function finish(final: ReleaseOutcome, why: string): Promise<void> {
    await CancellationScope.nonCancellable(async () => {
      status.outcome = final;
      status.waitingFor = null;
      upsertSearchAttributes([
        { key: MlopsOutcome, value: final },
        { key: MlopsStage, value: 'done' },
      ]);
      upsertMemo({ summary: `${input.model} v${input.version}: ${final}: ${why}` });
      await transition('done', `${final}: ${why}`, { reason: why });
      await record('done');
      await act.releaseRoute({ model: input.model, releaseId });
      await notices;
    });
  }
}

/** A check's result when its round could not be evaluated at all: inconclusive, with why. */
function inconclusiveRound(check: Check, error: unknown): CheckResult {
  return evaluateCheck(
    check,
    { ok: false, error: `checks could not be evaluated: ${failureMessage(error)}` },
    null,
  );
}

/** The activity's own words for a failure, not "Activity task failed". */
function failureMessage(error: unknown): string {
  return error instanceof ActivityFailure ? (error.cause?.message ?? error.message) : String(error);
}

/** Failure types of route activities that are a release's expected way to fail, not a bug. */
function isExpectedRouteFailure(type: string | undefined): boolean {
  return type === 'CandidateLoadFailed' || type === 'RouteNotApplied' || type === 'RouteMismatch';
}

function asExpectedFailure(error: unknown): unknown {
  if (
    error instanceof ActivityFailure &&
    error.cause instanceof ApplicationFailure &&
    isExpectedRouteFailure(error.cause.type ?? undefined)
  ) {
    return new StopRelease('rolled-back', error.cause.message);
  }
  return error;
}

function validatePlan(raw: unknown): ReleasePlan {
  const parsed = ReleasePlanSchema.safeParse(raw);
  if (!parsed.success)
    throw ApplicationFailure.nonRetryable(
      `release plan is invalid: ${formatZodError(parsed.error, raw)}`,
      'InvalidPlan',
    );
  return parsed.data;
}

/** The release as the Temporal UI shows it: the last events and the last round of checks. */
function timelineMarkdown(status: ReleaseStatus): string {
  const weights = Object.entries(status.weights)
    .map(([version, bp]) => `v${version} ${bp / 100}%`)
    .join(', ');
  const events = status.timeline
    .slice(-8)
    .map((event) => `- ${event.at} **${event.event}** ${event.details}`);
  const last = status.recentChecks.at(-1);
  const checkLines = last
    ? last.results.map((result) => `  - ${result.verdict}: ${result.reason}`)
    : [];
  return [
    `**${status.model} v${status.version}**: ${status.stage}${weights ? ` (${weights})` : ''}${status.waitingFor ? `, waiting for ${status.waitingFor}` : ''}`,
    ...events,
    ...(last ? [`last checks (${last.verdict}):`, ...checkLines] : []),
  ].join('\n');
}
