import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { refuseUnapprovableGates } from '../lib/access/gate-check.js';
import { getApprovalPolicy } from '../lib/access/model-access.js';
import type { Db } from '../lib/db/db.js';
import { ConflictError, InvalidInputError, NotFoundError } from '../lib/errors.js';
import { writeAudit } from '../lib/registry/audit.js';
import { VersionNumberSchema } from '../lib/registry/types.js';
import { findAliasedVersion, resolveVersion } from '../lib/registry/versions.js';
import { ReleasePlanSchema } from '../lib/release/plan.js';
import type { ReleaseRecord } from '../lib/release/release-store.js';
import { parseWith } from '../lib/spec/parse.js';
import { canonicalDigest } from '../lib/temporal/start-training.js';
import { ModelNameSchema } from '../lib/spec/training-spec.js';
import { releaseWorkflowId, temporalUiLink } from '../lib/temporal/conventions.js';
import type { ApprovalInput, releaseWorkflow, ReleaseStatus } from '../workflows/release.js';
import { channelOf, needs, principal } from './auth.js';

/** What the API needs to start and operate releases. */
export interface ReleaseApiOptions {
  client: Client;
  /** Where the client connects, for error messages. */
  address: string;
  taskQueue: string;
  namespace: string;
  uiUrl: string;
}

export const RELEASE_OPERATIONS = [
  'approve',
  'reject',
  'abort',
  'promote',
  'pause',
  'resume',
] as const;
export type ReleaseOperation = (typeof RELEASE_OPERATIONS)[number];

/** Approving, rejecting and promoting need `approve`; the rest of operating a release, `release`. */
const OPERATION_SCOPE = {
  approve: 'approve',
  reject: 'approve',
  promote: 'approve',
  abort: 'release',
  pause: 'release',
  resume: 'release',
} as const;

const ReleaseParams = z.object({ model: ModelNameSchema, version: VersionNumberSchema });
const StartBody = z
  .object({ model: ModelNameSchema, version: VersionNumberSchema, plan: z.unknown() })
  .strict();
const OperationBody = z.object({ reason: z.string().max(2000).optional() }).strict();

/**
 * Sends one decision to a release and records it, accepted or refused, in the audit log:
 * who (identity and Slack user), when, through which channel, why, and what the release
 * answered. The release's Update validator decides; its words are what the person sees.
 */
export async function decideRelease(
  deps: { db: Db; temporal: ReleaseApiOptions },
  input: { model: string; version: number; operation: ReleaseOperation; who: ApprovalInput },
): Promise<{ accepted: boolean; message: string }> {
  const workflowId = releaseWorkflowId(input.model, input.version);
  const handle = deps.temporal.client.workflow.getHandle<typeof releaseWorkflow>(workflowId);
  let result: { accepted: boolean; message: string };
  try {
    if (input.operation === 'pause' || input.operation === 'resume') {
      await requireRunning(handle, input.model, input.version);
      await handle.signal<[ApprovalInput]>(input.operation, input.who);
      result = { accepted: true, message: `${input.operation}d ${workflowId}` };
    } else {
      const answer = await handle.executeUpdate<string, [ApprovalInput]>(input.operation, {
        args: [input.who],
      });
      result = { accepted: true, message: answer };
    }
  } catch (error) {
    // Temporal being down is not a decision against the caller: answer 503, audit nothing.
    if (isTemporalUnreachable(error)) throw error;
    result = { accepted: false, message: await refusal(error, handle, input.model, input.version) };
  }
  await writeAudit(deps.db, {
    actor: input.who.approver,
    channel: input.who.channel,
    action: `release.${input.operation}`,
    model: input.model,
    version: input.version,
    details: {
      releaseId: workflowId,
      result: result.accepted ? 'accepted' : 'refused',
      message: result.message,
      ...(input.who.reason ? { reason: input.who.reason } : {}),
      ...(input.who.slackUserId ? { slackUserId: input.who.slackUserId } : {}),
      ...(input.who.slackUserName ? { slackUserName: input.who.slackUserName } : {}),
    },
  });
  return result;
}

/** A release's status as its Query answers it. */
export async function releaseStatus(
  temporal: ReleaseApiOptions,
  model: string,
  version: number,
): Promise<ReleaseStatus> {
  const handle = temporal.client.workflow.getHandle(releaseWorkflowId(model, version));
  return handle.query<ReleaseStatus>('status').catch((error: unknown) => {
    if (error instanceof WorkflowNotFoundError)
      throw new NotFoundError(`there is no release of ${model} v${version}`);
    throw error;
  });
}

/** Release routes: start (scope release), status (read), and the operations. */
export function addReleaseRoutes(app: FastifyInstance, db: Db, temporal: ReleaseApiOptions): void {
  app.post('/v1/releases', needs('release'), async (request, reply) => {
    const body = parseWith(StartBody, request.body ?? {}, 'request body');
    const plan = parseWith(ReleasePlanSchema, body.plan, 'plan');
    // A version that cannot be released is bad input: refuse before starting anything.
    const candidate = await resolveVersion(db, body.model, body.version);
    if (candidate.status !== 'registered')
      throw new InvalidInputError(
        `version: ${body.model} v${body.version} is ${candidate.status} and cannot be released`,
      );
    if ((await findAliasedVersion(db, body.model, 'production'))?.version === body.version)
      throw new InvalidInputError(
        `version: ${body.model} v${body.version} is already production; there is nothing to release`,
      );
    await refuseUnapprovableGates(
      db,
      body.model,
      plan,
      await getApprovalPolicy(db, body.model, null),
    );
    const workflowId = releaseWorkflowId(body.model, body.version);
    let started = true;
    const planDigest = canonicalDigest(plan);
    await temporal.client.workflow
      .start<typeof releaseWorkflow>('releaseWorkflow', {
        workflowId,
        taskQueue: temporal.taskQueue,
        args: [
          {
            model: body.model,
            version: body.version,
            plan: body.plan,
            requestedBy: principal(request).identity,
          },
        ],
        workflowIdConflictPolicy: 'FAIL',
        memo: { planDigest },
      })
      .catch((error: unknown) => {
        if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
        started = false;
      });
    if (!started) {
      // The same plan again is a CI retry; another plan is a mistake the caller must see.
      const earlier = (await temporal.client.workflow.getHandle(workflowId).describe()).memo
        ?.planDigest;
      if (typeof earlier === 'string' && earlier !== planDigest)
        throw new ConflictError(
          `the release of ${body.model} v${body.version} is already running with a different plan; abort it (\`mlops release abort ${body.model} ${body.version}\`) and start again`,
        );
    }
    if (started)
      await writeAudit(db, {
        actor: principal(request).identity,
        channel: channelOf(request),
        action: 'release.start',
        model: body.model,
        version: body.version,
        details: { releaseId: workflowId },
      });
    const uiUrl = temporalUiLink(temporal.uiUrl, temporal.namespace, workflowId);
    return reply.status(started ? 201 : 200).send({ workflowId, started, uiUrl });
  });

  app.get('/v1/releases/:model/:version', needs('read'), async (request) => {
    const { model, version } = parseWith(ReleaseParams, request.params, 'path');
    return releaseStatus(temporal, model, version);
  });

  for (const operation of RELEASE_OPERATIONS) {
    app.post(
      `/v1/releases/:model/:version/${operation}`,
      needs(OPERATION_SCOPE[operation]),
      async (request) => {
        const { model, version } = parseWith(ReleaseParams, request.params, 'path');
        const { reason } = parseWith(OperationBody, request.body ?? {}, 'request body');
        const who = principal(request);
        const result = await decideRelease(
          { db, temporal },
          {
            model,
            version,
            operation,
            who: {
              approver: who.identity,
              groups: who.groups,
              channel: channelOf(request),
              reason,
            },
          },
        );
        if (!result.accepted) throw new ConflictError(`${operation} refused: ${result.message}`);
        return { message: result.message };
      },
    );
  }
}

type Handle = {
  describe(): Promise<{ status: { name: string } }>;
  query<T>(name: string): Promise<T>;
};

async function requireRunning(handle: Handle, model: string, version: number): Promise<void> {
  const description = await handle.describe().catch((error: unknown) => {
    if (error instanceof WorkflowNotFoundError) return null;
    throw error;
  });
  if (!description) throw new NotFoundError(`there is no release of ${model} v${version}`);
  if (description.status.name !== 'RUNNING')
    throw new ConflictError(
      `the release of ${model} v${version} is over (${description.status.name.toLowerCase()}); nothing was changed`,
    );
}

/** Why an operation was refused, in the words a person needs: the validator's, or the release's state. */
async function refusal(
  error: unknown,
  handle: Handle,
  model: string,
  version: number,
): Promise<string> {
  if (error instanceof WorkflowUpdateFailedError) return error.cause?.message ?? error.message;
  if (error instanceof NotFoundError || error instanceof ConflictError) return error.message;
  const description = await handle.describe().catch(() => null);
  if (!description) return `there is no release of ${model} v${version}`;
  if (description.status.name !== 'RUNNING') {
    const outcome = await handle
      .query<ReleaseStatus>('status')
      .then((status) => status.outcome)
      .catch(() => description.status.name.toLowerCase());
    return `the release of ${model} v${version} is over (${outcome}); nothing was changed`;
  }
  return (error as Error).message;
}

/** gRPC UNAVAILABLE (14) from the Temporal client, directly or as the cause of a ServiceError. */
export function isTemporalUnreachable(error: unknown): boolean {
  for (let current = error; current instanceof Error; current = current.cause)
    if ((current as { code?: unknown }).code === 14) return true;
  return false;
}

/**
 * Releases as listed, with the stage of each running one read live from its workflow (the
 * stored row is written at start and at the end). A release that does not answer within
 * two seconds (no worker polling, say) keeps its stored stage.
 */
export async function withLiveStages(
  temporal: ReleaseApiOptions,
  releases: ReleaseRecord[],
): Promise<ReleaseRecord[]> {
  return Promise.all(
    releases.map(async (release) => {
      if (release.outcome !== 'running') return release;
      const workflowId = release.releaseId.split('#')[0]!;
      const live = await Promise.race([
        temporal.client.workflow
          .getHandle(workflowId)
          .query<ReleaseStatus>('status')
          .catch(() => null),
        new Promise<null>((resolve) => setTimeout(() => resolve(null), 2_000).unref()),
      ]);
      return live && live.outcome === 'running' ? { ...release, stage: live.stage } : release;
    }),
  );
}
