import fs from 'node:fs';
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { InvalidInputError } from '../lib/errors.js';
import { ReleasePlanSchema } from '../lib/release/plan.js';
import type { ReleaseRecord } from '../lib/release/release-store.js';
import { parseWith } from '../lib/spec/parse.js';
import type { releaseWorkflow, ReleaseResult, ReleaseStatus } from '../workflows/release.js';
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
    `${status.model} v${status.version}  stage=${status.stage}  outcome=${status.outcome}  stable=${status.stable === null ? '-' : `v${status.stable}`}  step=${status.step}/${status.steps}${weights ? `  ${weights}` : ''}${status.paused ? '  PAUSED' : ''}${status.runs > 1 ? `  runs=${status.runs}` : ''}`,
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
 * `mlops release ...`: start a release and operate it through the API, which acts as the
 * token's identity; the release workflow's validators decide. `--wait` and the timeline
 * read the release from Temporal.
 */
export function addReleaseCommands(
  program: Command,
  context: {
    temporal: () => Promise<Client>;
    api: () => ApiClient;
  },
): void {
  const release = program
    .command('release')
    .description('release a version through shadow, canary and promotion');
  const path = (model: string, version: number, operation = ''): string =>
    `/v1/releases/${encodeURIComponent(model)}/${version}${operation ? `/${operation}` : ''}`;

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
        const { workflowId, started, uiUrl } = await context
          .api()
          .request<{ workflowId: string; started: boolean; uiUrl: string }>(
            'POST',
            '/v1/releases',
            {
              model,
              version,
              plan,
            },
          );
        if (!options.json)
          process.stderr.write(
            `${started ? 'started' : 'already started'} ${workflowId}\n  ${uiUrl}\n`,
          );
        if (!options.wait) {
          if (options.json)
            process.stdout.write(`${JSON.stringify({ workflowId, started, uiUrl })}\n`);
          return;
        }
        const client = await context.temporal();
        const result: ReleaseResult = await client.workflow
          .getHandle<typeof releaseWorkflow>(workflowId)
          .result();
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
    .command('ls')
    .description("a model's releases, newest first")
    .argument('<model>')
    .option('--json', 'print one JSON document')
    .action(async (model: string, options: { json?: boolean }) => {
      const { releases } = await context
        .api()
        .get<{ releases: ReleaseRecord[] }>(`/v1/models/${encodeURIComponent(model)}/releases`);
      if (options.json) {
        process.stdout.write(`${JSON.stringify({ releases }, null, 2)}\n`);
        return;
      }
      for (const entry of releases)
        process.stdout.write(
          `v${entry.version}\t${entry.outcome}\tstage=${entry.stage}\tstable=${entry.stableVersion === null ? '-' : `v${entry.stableVersion}`}\tstarted=${entry.startedAt}\t${entry.releaseId}\n`,
        );
    });

  release
    .command('status')
    .argument('<model>')
    .argument('<version>')
    .option('--json', 'print one JSON document')
    .action(async (model: string, version: string, options: { json?: boolean }) => {
      const status = await context.api().get<ReleaseStatus>(path(model, parseVersion(version)));
      if (options.json) process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
      else printStatus(status);
    });

  for (const [name, description] of [
    ['approve', 'approve the gate the release waits at'],
    ['reject', 'reject the gate the release waits at (rolls back)'],
    ['abort', 'stop the release and restore stable traffic'],
    ['promote', 'skip the remaining steps and promote now (approvers only)'],
    ['pause', 'hold the release at its current step (checks keep running)'],
    ['resume', 'let a paused release advance again'],
  ] as const) {
    release
      .command(name)
      .description(description)
      .argument('<model>')
      .argument('<version>')
      .option('--reason <text>', 'why, for the audit log')
      .action(async (model: string, version: string, options: { reason?: string }) => {
        const { message } = await context
          .api()
          .request<{ message: string }>('POST', path(model, parseVersion(version), name), {
            ...(options.reason ? { reason: options.reason } : {}),
          });
        process.stdout.write(`${message}\n`);
      });
  }
}
