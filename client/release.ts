import fs from 'node:fs';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import type { Config } from '../lib/config.js';
import { InvalidInputError } from '../lib/errors.js';
import { ReleasePlanSchema } from '../lib/release/plan.js';
import { parseWith } from '../lib/spec/parse.js';
import { releaseWorkflowId, temporalUiLink } from '../lib/temporal/conventions.js';
import type {
  ApprovalInput,
  releaseWorkflow,
  ReleaseResult,
  ReleaseStatus,
} from '../workflows/release.js';
import type { ApiClient } from './api-client.js';
import { CliError, ExitCode } from './exit-codes.js';

/** Reads and validates a release plan; unknown metrics or fields are refused before anything starts. */
export function readReleasePlan(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new InvalidInputError(
      `plan file ${file} cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new InvalidInputError(`plan file ${file} is not valid YAML: ${(error as Error).message}`);
  }
  parseWith(ReleasePlanSchema, raw, `plan file ${file}`);
  return raw;
}

function parseVersion(text: string): number {
  const version = Number(text);
  if (!/^[1-9]\d*$/.test(text) || !Number.isSafeInteger(version)) {
    throw new InvalidInputError(
      `version: must be a positive integer (got ${JSON.stringify(text)})`,
    );
  }
  return version;
}

/** Prints a release's status as a short timeline. */
export function printStatus(status: ReleaseStatus): void {
  const weights = Object.entries(status.weights)
    .map(([version, bp]) => `v${version}=${bp / 100}%`)
    .join(' ');
  const lines = [
    `${status.model} v${status.version}  stage=${status.stage}  outcome=${status.outcome}  stable=${status.stable === null ? '-' : `v${status.stable}`}  step=${status.step}/${status.steps}${weights ? `  ${weights}` : ''}${status.paused ? '  PAUSED' : ''}`,
    ...(status.waitingFor ? [`  waiting for ${status.waitingFor}`] : []),
    ...status.timeline.map((event) => `  ${event.at}  ${event.event.padEnd(18)} ${event.details}`),
  ];
  const last = status.recentChecks.at(-1);
  if (last)
    lines.push(
      `  last checks (${last.verdict}):`,
      ...last.results.map((result) => `    ${result.verdict.padEnd(12)} ${result.reason}`),
    );
  process.stdout.write(`${lines.join('\n')}\n`);
}

/**
 * `mlops release ...`: start a release and operate it. Operations are Temporal Updates,
 * Signals and Queries on `release/<model>/v<version>`; the workflow's validators decide.
 */
export function addReleaseCommands(
  program: Command,
  context: {
    config: () => Config;
    temporal: () => Promise<Client>;
    actor: () => string;
    api: () => ApiClient;
  },
): void {
  const release = program
    .command('release')
    .description('release a version through shadow, canary and promotion');
  const handleFor = async (model: string, version: string) =>
    (await context.temporal()).workflow.getHandle<typeof releaseWorkflow>(
      releaseWorkflowId(model, parseVersion(version)),
    );

  release
    .command('start')
    .description('start a release from a plan (YAML)')
    .argument('<model>')
    .argument('<version>')
    .requiredOption('-f, --file <plan.yaml>', 'release plan')
    .option('--wait', 'wait for the outcome; exit 1 unless promoted')
    .option('--json', 'print one JSON document')
    .action(
      async (
        model: string,
        versionText: string,
        options: { file: string; wait?: boolean; json?: boolean },
      ) => {
        const version = parseVersion(versionText);
        const plan = readReleasePlan(options.file);
        // A release of a version that is not registered is bad input: refuse before starting anything.
        await context.api().get(`/v1/models/${encodeURIComponent(model)}/versions/${version}`);
        const config = context.config();
        const client = await context.temporal();
        const workflowId = releaseWorkflowId(model, version);
        let started = true;
        const handle = await client.workflow
          .start<typeof releaseWorkflow>('releaseWorkflow', {
            workflowId,
            taskQueue: config.MLOPS_TASK_QUEUE,
            args: [{ model, version, plan, requestedBy: context.actor() }],
            workflowIdConflictPolicy: 'FAIL',
          })
          .catch((error: unknown) => {
            if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
            started = false;
            return client.workflow.getHandle<typeof releaseWorkflow>(workflowId);
          });
        const uiUrl = temporalUiLink(config.TEMPORAL_UI_URL, config.TEMPORAL_NAMESPACE, workflowId);
        if (!options.json)
          process.stderr.write(
            `${started ? 'started' : 'already started'} ${workflowId}\n  ${uiUrl}\n`,
          );
        if (!options.wait) {
          if (options.json)
            process.stdout.write(`${JSON.stringify({ workflowId, started, uiUrl })}\n`);
          return;
        }
        const result: ReleaseResult = await handle.result();
        if (options.json)
          process.stdout.write(
            `${JSON.stringify({ workflowId, started, uiUrl, result }, null, 2)}\n`,
          );
        else printStatus(result.status);
        if (result.outcome !== 'promoted')
          throw new CliError(
            `${model} v${version} was not promoted: ${result.outcome}: ${result.reason}`,
            ExitCode.Rejected,
          );
      },
    );

  release
    .command('status')
    .argument('<model>')
    .argument('<version>')
    .option('--json', 'print one JSON document')
    .action(async (model: string, version: string, options: { json?: boolean }) => {
      const handle = await handleFor(model, version);
      const status = await handle.query<ReleaseStatus>('status').catch((error: unknown) => {
        if (error instanceof WorkflowNotFoundError)
          throw new InvalidInputError(`there is no release of ${model} v${version}`);
        throw error;
      });
      if (options.json) process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
      else printStatus(status);
    });

  for (const [name, description] of [
    ['approve', 'approve the gate the release waits at'],
    ['reject', 'reject the gate the release waits at (rolls back)'],
    ['abort', 'stop the release and restore stable traffic'],
    ['promote', 'skip the remaining steps and promote now (approvers only)'],
  ] as const) {
    release
      .command(name)
      .description(description)
      .argument('<model>')
      .argument('<version>')
      .option('--reason <text>', 'why, for the audit log')
      .action(async (model: string, version: string, options: { reason?: string }) => {
        const handle = await handleFor(model, version);
        const who: ApprovalInput = {
          approver: context.actor(),
          channel: 'cli',
          reason: options.reason,
        };
        try {
          process.stdout.write(
            `${await handle.executeUpdate<string, [ApprovalInput]>(name, { args: [who] })}\n`,
          );
        } catch (error) {
          throw new CliError(
            `${name} refused: ${await updateRefusal(error, handle, model, version)}`,
            ExitCode.BadInput,
          );
        }
      });
  }

  for (const name of ['pause', 'resume'] as const) {
    release
      .command(name)
      .description(
        name === 'pause'
          ? 'hold the release at its current step (checks keep running)'
          : 'let a paused release advance again',
      )
      .argument('<model>')
      .argument('<version>')
      .action(async (model: string, version: string) => {
        const handle = await handleFor(model, version);
        const description = await handle.describe().catch(() => null);
        if (!description)
          throw new InvalidInputError(`there is no release of ${model} v${version}`);
        if (description.status.name !== 'RUNNING')
          throw new CliError(
            `release of ${model} v${version} is over (${description.status.name}); nothing was changed`,
            ExitCode.BadInput,
          );
        await handle.signal<[ApprovalInput]>(name, { approver: context.actor(), channel: 'cli' });
        process.stdout.write(`${name}d ${handle.workflowId}\n`);
      });
  }
}

/** Why an operation was refused, in the words a person needs: the validator's, or the release's state. */
async function updateRefusal(
  error: unknown,
  handle: { describe(): Promise<{ status: { name: string } }>; query<T>(name: string): Promise<T> },
  model: string,
  version: string,
): Promise<string> {
  if (error instanceof WorkflowUpdateFailedError) return error.cause?.message ?? error.message;
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
