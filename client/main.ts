#!/usr/bin/env node
import fs from 'node:fs';
import os from 'node:os';
import { WorkflowFailedError } from '@temporalio/client';
import { Command, Option } from 'commander';
import { ConfigError, loadConfig, type Config } from '../lib/config.js';
import { DatabaseInUseError } from '../lib/db/db.js';
import { PortInUseError } from '../lib/dev/temporal-server.js';
import { InvalidInputError } from '../lib/errors.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { cliApiToken } from '../lib/access/dev-token.js';
import { SlackBridge } from './slack-bridge.js';
import type { AuditRow } from '../lib/registry/audit.js';
import type { ModelVersionRecord } from '../lib/registry/types.js';
import { reproduceWorkflowId, temporalUiLink } from '../lib/temporal/conventions.js';
import type { reproduceWorkflow } from '../workflows/reproduce.js';
import { ApiClient } from './api-client.js';
import { CliError, ExitCode } from './exit-codes.js';
import { printAudit, printRecord, printVersionTable } from './output.js';
import { addAccessCommands } from './access.js';
import { addReleaseCommands } from './release.js';
import { heldOutEmails, replayTraffic } from './replay.js';
import { durationMs } from '../lib/release/plan.js';
import { connectTemporal } from './temporal.js';
import type { trainingPipelineWorkflow } from '../workflows/training-pipeline.js';
import { checkRunId, newRunId, readTrainingSpec, waitWithProgress } from './train.js';

/**
 * `mlops`: the CLI for CI and people. Commands that read or change the system go through
 * Temporal and the HTTP API; `dev`, `worker` and `api` start those servers in this process.
 */
export function buildProgram(): Command {
  const program = new Command('mlops')
    .description('MLOps control plane on Temporal: train, register, release, serve')
    .version(packageVersion())
    .showHelpAfterError()
    .exitOverride();

  program
    .command('dev')
    .description(
      'run a Temporal dev server, the worker, the API and an embedded database in one process',
    )
    .option('--ui-port <port>', 'Temporal Web UI port (default: the port of TEMPORAL_UI_URL, 8233)')
    .action(async (options: { uiPort?: string }) => {
      if (
        options.uiPort !== undefined &&
        (!/^\d+$/.test(options.uiPort) || Number(options.uiPort) > 65535)
      ) {
        throw new InvalidInputError(
          `--ui-port: must be a port number from 0 (no UI) to 65535 (got ${JSON.stringify(options.uiPort)})`,
        );
      }
      await serve({
        devServer: true,
        worker: true,
        api: true,
        gateway: true,
        uiPort: options.uiPort === undefined ? undefined : Number(options.uiPort),
      });
    });

  program
    .command('worker')
    .description('run a worker for the training task queue (TEMPORAL_ADDRESS, DATABASE_URL)')
    .action(async () => serve({ devServer: false, worker: true, api: false }));

  program
    .command('serve')
    .description('run an online inference gateway replica (DATABASE_URL, MLOPS_GATEWAY_PORT)')
    .action(async () => serve({ devServer: false, worker: false, api: false, gateway: true }));

  program
    .command('slack')
    .description(
      'run the Slack approvals bridge (MLOPS_SLACK_SIGNING_SECRET, MLOPS_SLACK_BRIDGE_TOKEN, MLOPS_API_URL)',
    )
    .action(async () => {
      const config = loadCliConfig();
      if (!config.MLOPS_SLACK_BRIDGE_TOKEN)
        throw new CliError(
          'MLOPS_SLACK_BRIDGE_TOKEN is not set: the bridge acts through the API with its own token; an admin creates one with `mlops tokens create slack-bridge --scopes delegate,read`',
          ExitCode.BadInput,
        );
      const logger = createLogger(config.LOG_LEVEL);
      const bridge = await startBridge(
        config,
        logger,
        new ApiClient(config.MLOPS_API_URL, config.MLOPS_SLACK_BRIDGE_TOKEN),
      );
      await untilSignal();
      await bridge.close();
    });

  program
    .command('api')
    .description('run the control-plane HTTP API (DATABASE_URL, MLOPS_API_PORT)')
    .action(async () => serve({ devServer: false, worker: false, api: true }));

  program
    .command('train')
    .description('start the training pipeline for a spec; exit 1 when its gate rejects the version')
    .requiredOption('-f, --file <spec.yaml>', 'training spec (YAML)')
    .option('--wait', 'wait for the result, with a progress bar')
    .option('--json', 'print one JSON document')
    .option('--run-id <id>', 'run id; the same id started twice is one run')
    .action(async (options: { file: string; wait?: boolean; json?: boolean; runId?: string }) => {
      const config = loadCliConfig();
      const { raw, spec } = readTrainingSpec(options.file);
      const runId = checkRunId(options.runId ?? newRunId());
      const api = ApiClient.fromConfig(config);
      // Started by the API, as the token's identity; the CLI only watches the run.
      const { workflowId, started, uiUrl } = await api.request<{
        workflowId: string;
        started: boolean;
        uiUrl: string;
      }>('POST', '/v1/runs', { spec: raw, runId });
      if (!options.json)
        process.stderr.write(
          `${started ? 'started' : 'already started'} ${workflowId}\n  ${uiUrl}\n`,
        );
      if (!options.wait) {
        if (options.json) printJson({ workflowId, runId, started, uiUrl });
        return;
      }
      const client = await connectTemporal(config);
      const handle = client.workflow.getHandle<typeof trainingPipelineWorkflow>(workflowId);
      const result = await waitWithProgress(handle, !options.json);
      const record = await api.get<ModelVersionRecord>(
        `/v1/models/${spec.model}/versions/${result.version}`,
      );
      if (options.json) printJson({ workflowId, runId, started, uiUrl, result, record });
      else printRecord(record, uiUrl);
      if (result.outcome === 'rejected')
        throw new CliError(
          `${spec.model} v${result.version} was rejected by its gate: ${result.gate.reasons.join('; ')}`,
          ExitCode.Rejected,
        );
    });

  const models = program.command('models').description('read the model registry');
  models
    .command('ls')
    .description('list models, or the versions of one model')
    .argument('[model]')
    .option('--json', 'print one JSON document')
    .action(async (model: string | undefined, options: { json?: boolean }) => {
      const api = ApiClient.fromConfig(loadCliConfig());
      if (model) {
        const { versions } = await api.get<{ versions: ModelVersionRecord[] }>(
          `/v1/models/${encodeURIComponent(model)}/versions`,
        );
        if (options.json) printJson({ versions });
        else printVersionTable(versions);
        return;
      }
      const body = await api.get<{
        models: Array<{
          name: string;
          owner: string;
          versions: number;
          latestVersion: number;
          aliases: Record<string, number>;
        }>;
      }>('/v1/models');
      if (options.json) return printJson(body);
      for (const entry of body.models) {
        const aliases = Object.entries(entry.aliases)
          .map(([alias, version]) => `${alias}=v${version}`)
          .join(' ');
        process.stdout.write(
          `${entry.name}\towner=${entry.owner}\tversions=${entry.versions}\tlatest=v${entry.latestVersion}\t${aliases}\n`,
        );
      }
    });
  models
    .command('show')
    .description('show one version by number or alias, with its lineage and evaluation')
    .argument('<model>')
    .argument('<version-or-alias>')
    .option('--json', 'print one JSON document')
    .action(async (model: string, ref: string, options: { json?: boolean }) => {
      const config = loadCliConfig();
      const record = await ApiClient.fromConfig(config).get<ModelVersionRecord>(
        `/v1/models/${encodeURIComponent(model)}/versions/${encodeURIComponent(ref)}`,
      );
      if (options.json) printJson(record);
      else
        printRecord(
          record,
          temporalUiLink(
            config.TEMPORAL_UI_URL,
            config.TEMPORAL_NAMESPACE,
            record.lineage.workflowId,
          ),
        );
    });

  program
    .command('runs')
    .description('read training runs')
    .command('show')
    .argument('<run-id>')
    .action(async (id: string) => {
      printJson(
        await ApiClient.fromConfig(loadCliConfig()).get(`/v1/runs/${encodeURIComponent(id)}`),
      );
    });

  program
    .command('reproduce')
    .description(
      'train a registered version again from its lineage; exit 1 when the artifact digest differs',
    )
    .argument('<model>')
    .argument('<version>')
    .option('--run-id <id>', 'run id for the reproduction')
    .option('--json', 'print one JSON document')
    .action(
      async (model: string, versionText: string, options: { runId?: string; json?: boolean }) => {
        const config = loadCliConfig();
        const version = Number(versionText);
        if (!Number.isInteger(version) || version <= 0)
          throw new InvalidInputError(
            `version: must be a positive integer (got ${JSON.stringify(versionText)})`,
          );
        await ApiClient.fromConfig(config).get(
          `/v1/models/${encodeURIComponent(model)}/versions/${version}`,
        );
        const runId = checkRunId(options.runId ?? newRunId());
        const client = await connectTemporal(config);
        const handle = await client.workflow.start<typeof reproduceWorkflow>('reproduceWorkflow', {
          workflowId: reproduceWorkflowId(model, version, runId),
          taskQueue: config.MLOPS_TASK_QUEUE,
          args: [{ runId, model, version, requestedBy: requester() }],
          workflowIdConflictPolicy: 'USE_EXISTING',
        });
        if (!options.json)
          process.stderr.write(
            `reproducing ${model} v${version}: ${temporalUiLink(config.TEMPORAL_UI_URL, config.TEMPORAL_NAMESPACE, handle.workflowId)}\n`,
          );
        const result = await handle.result();
        if (options.json) printJson(result);
        else {
          process.stdout.write(
            `${result.matches ? 'reproduced' : 'DIFFERS'}: expected ${result.expectedDigest}\n${' '.repeat(result.matches ? 12 : 9)}got ${result.actualDigest}\n`,
          );
          if (!result.lockDigestMatches)
            process.stdout.write(
              `note: the dependency lock changed since training (${result.recordedLockDigest} -> ${result.currentLockDigest})\n`,
            );
        }
        if (!result.matches)
          throw new CliError(`${model} v${version} did not reproduce`, ExitCode.Rejected);
      },
    );

  program
    .command('datasets')
    .description('the data catalog')
    .command('ls')
    .action(async () => printJson(await ApiClient.fromConfig(loadCliConfig()).get('/v1/datasets')));

  program
    .command('audit')
    .description(
      "a model's audit log, newest first: who, when, through which channel, what and why; without a model, entries about no model (admin)",
    )
    .argument('[model]')
    .option('--json', 'print one JSON document')
    .action(async (model: string | undefined, options: { json?: boolean }) => {
      const body = await ApiClient.fromConfig(loadCliConfig()).get<{ entries: AuditRow[] }>(
        model ? `/v1/models/${encodeURIComponent(model)}/audit` : '/v1/audit',
      );
      if (options.json) printJson(body);
      else printAudit(body.entries);
    });

  program
    .command('replay')
    .description('send held-out real e-mails to the gateway, and their true labels later')
    .argument('<model>')
    .option('--rate <n>', 'requests per second', '20')
    .option('--duration <d>', 'how long, as 30s, 5m, ...', '30s')
    .option(
      '--labels-after <seconds>',
      'send each true label this many seconds after its prediction (-1: never)',
      '2',
    )
    .option(
      '--gateway <url>',
      'gateway base URL (default: http://MLOPS_GATEWAY_HOST:MLOPS_GATEWAY_PORT)',
    )
    .action(
      async (
        model: string,
        options: { rate: string; duration: string; labelsAfter: string; gateway?: string },
      ) => {
        const config = loadCliConfig();
        const rate = Number(options.rate);
        if (!Number.isFinite(rate) || rate <= 0 || rate > 10_000)
          throw new InvalidInputError(
            `--rate: must be a number of requests per second in (0, 10000] (got ${JSON.stringify(options.rate)})`,
          );
        if (!/^\d+(ms|s|m|h)$/.test(options.duration))
          throw new InvalidInputError(
            `--duration: must be a duration like 30s or 5m (got ${JSON.stringify(options.duration)})`,
          );
        const labelsAfter = Number(options.labelsAfter);
        if (!Number.isFinite(labelsAfter))
          throw new InvalidInputError(
            `--labels-after: must be a number of seconds (got ${JSON.stringify(options.labelsAfter)})`,
          );
        const gatewayUrl =
          options.gateway ?? `http://${config.MLOPS_GATEWAY_HOST}:${config.MLOPS_GATEWAY_PORT}`;
        const abort = new AbortController();
        process.once('SIGINT', () => abort.abort());
        const summary = await replayTraffic(
          {
            gatewayUrl,
            model,
            rate,
            durationMs: durationMs(options.duration),
            labelsAfterSeconds: labelsAfter,
            signal: abort.signal,
          },
          await heldOutEmails(),
        );
        printJson(summary);
        if (summary.answered === 0)
          throw new CliError(
            `no request was answered by ${gatewayUrl}; is the gateway running and does ${model} have a route?`,
            ExitCode.Unavailable,
          );
      },
    );

  addReleaseCommands(program, {
    temporal: () => connectTemporal(loadCliConfig()),
    api: () => ApiClient.fromConfig(loadCliConfig()),
  });
  addAccessCommands(program, () => ApiClient.fromConfig(loadCliConfig()));

  program.addOption(new Option('--verbose', 'debug logging').hideHelp());
  return program;
}

function loadCliConfig(): Config {
  try {
    return loadConfig();
  } catch (error) {
    throw new CliError((error as Error).message, ExitCode.BadInput);
  }
}

function requester(): string {
  return (
    process.env.MLOPS_ACTOR ??
    process.env.GITHUB_ACTOR ??
    process.env.USER ??
    os.userInfo().username
  );
}

function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Hosts servers until SIGINT or SIGTERM, then shuts down gracefully. */
async function serve(parts: {
  devServer: boolean;
  worker: boolean;
  api: boolean;
  gateway?: boolean;
  uiPort?: number;
}): Promise<void> {
  const config = loadCliConfig();
  const logger = createLogger(config.LOG_LEVEL);
  const { startStack } = await import('../workers/stack.js');
  const stack = await startStack({ config, logger, ...parts });
  if (stack.devServer)
    process.stderr.write(`Temporal UI: ${stack.uiUrl}\nTemporal:    ${stack.temporalAddress}\n`);
  if (stack.apiUrl) process.stderr.write(`API:         ${stack.apiUrl}\n`);
  if (stack.gatewayUrl) process.stderr.write(`Gateway:     ${stack.gatewayUrl}\n`);
  // `mlops dev` hosts the Slack bridge too once a signing secret is configured.
  let bridge: SlackBridge | null = null;
  if (parts.devServer && config.MLOPS_SLACK_SIGNING_SECRET !== undefined) {
    try {
      bridge = await startBridge(
        config,
        logger,
        new ApiClient(
          stack.apiUrl!,
          config.MLOPS_SLACK_BRIDGE_TOKEN ?? cliApiToken({}, config.dataDir),
        ),
      );
    } catch (error) {
      await stack.stop();
      throw error;
    }
  }
  await untilSignal();
  logger.info({}, 'shutting down');
  await bridge?.close();
  await stack.stop();
}

function untilSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
}

/** Starts the Slack bridge; an empty signing secret refuses to start. */
async function startBridge(config: Config, logger: Logger, api: ApiClient): Promise<SlackBridge> {
  const bridge = new SlackBridge({ signingSecret: config.MLOPS_SLACK_SIGNING_SECRET, api, logger });
  const url = await bridge.app.listen({
    host: config.MLOPS_SLACK_HOST,
    port: config.MLOPS_SLACK_PORT,
  });
  process.stderr.write(`Slack:       ${url}/slack/interactions, ${url}/slack/commands\n`);
  return bridge;
}

function packageVersion(): string {
  const manifest = JSON.parse(
    fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
  ) as { version: string };
  return manifest.version;
}

/** The innermost message of a failure chain: the trainer's error, not "Activity task failed". */
function rootCause(error: Error): string {
  const messages: string[] = [];
  for (let current: unknown = error; current instanceof Error; current = current.cause)
    messages.push(current.message);
  return messages.at(-1) ?? error.message;
}

/** Runs the CLI and exits with the code CI expects. */
export async function main(argv: string[]): Promise<number> {
  // `mlops ... | head` closes our stdout early; that is the reader's choice, not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return ExitCode.Ok;
  } catch (error) {
    if ((error as { code?: string }).code?.startsWith('commander.')) {
      const code = (error as { code: string; exitCode: number }).code;
      return code === 'commander.helpDisplayed' ||
        code === 'commander.version' ||
        code === 'commander.help'
        ? 0
        : ExitCode.BadInput;
    }
    if (error instanceof CliError) {
      process.stderr.write(`mlops: ${error.message}\n`);
      return error.exitCode;
    }
    if (error instanceof WorkflowFailedError) {
      process.stderr.write(
        `mlops: the workflow failed: ${rootCause(error)}\nIts history in the Temporal UI shows each attempt.\n`,
      );
      return ExitCode.Failed;
    }
    if (error instanceof ConfigError) {
      process.stderr.write(`mlops: ${error.message}\n`);
      return ExitCode.BadInput;
    }
    if (error instanceof InvalidInputError) {
      process.stderr.write(`mlops: ${error.message}\nFix the input and run the command again.\n`);
      return ExitCode.BadInput;
    }
    if (error instanceof DatabaseInUseError || error instanceof PortInUseError) {
      // Something else holds what this command needs: the message says what and what to do.
      process.stderr.write(`mlops: ${error.message}\n`);
      return ExitCode.Unavailable;
    }
    process.stderr.write(`mlops: ${(error as Error).stack ?? String(error)}\n`);
    return ExitCode.Unavailable;
  }
}

if (
  import.meta.url === `file://${process.argv[1]}` ||
  process.argv[1]?.endsWith('client/main.ts')
) {
  void main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
