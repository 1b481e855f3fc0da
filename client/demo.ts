import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import { loadConfig, type Config } from '../lib/config.js';
import { PortInUseError } from '../lib/dev/temporal-server.js';
import type { EmailRow } from '../lib/corpus/email-row.js';
import { createLogger } from '../lib/logger.js';
import type { DatasetSummary } from '../lib/registry/catalog.js';
import type { ModelVersionRecord } from '../lib/registry/types.js';
import { temporalUiLink } from '../lib/temporal/conventions.js';
import type { releaseWorkflow, ReleaseResult, ReleaseStatus } from '../workflows/release.js';
import { startStack } from '../workers/stack.js';
import { ApiClient } from './api-client.js';
import { printAudit, printRecord } from './output.js';
import type { AuditRow } from '../lib/registry/audit.js';
import { printStatus, readReleasePlan } from './release.js';
import { heldOutEmails, replayTraffic, type ReplaySummary } from './replay.js';
import type { trainingPipelineWorkflow } from '../workflows/training-pipeline.js';
import { newRunId, readTrainingSpec, waitWithProgress } from './train.js';

const SPECS = fileURLToPath(new URL('../specs/', import.meta.url));
const MODEL = 'spam-filter';

interface DemoContext {
  config: Config;
  client: Client;
  /** The bootstrap admin: sets up identities, access and fault drills. */
  api: ApiClient;
  /** `demo`, a CI-like identity that may train and release, as CI would through the API. */
  starter: ApiClient;
  uiUrl: string;
  gatewayUrl: string;
  /** Loaded once up front: parsing the corpus blocks this process, which also hosts the worker. */
  emails: EmailRow[];
  report: { versions: unknown[]; releases: unknown[]; [key: string]: unknown };
}

/**
 * The main job on real data, in one process: import the SpamAssassin corpus; train v1 on
 * the older mail and release it as the first production version; train v2 on more mail,
 * gated against v1, and release it through shadow and a 5/25/50/100% canary while real
 * held-out e-mails flow through the gateway; train v3 and release it during a fault
 * drill, so that it rolls back on its own. Prints every record and release timeline and
 * writes them to `.data/demo/report.json`.
 */
async function demo(): Promise<number> {
  const adminToken = process.env.MLOPS_ADMIN_TOKEN ?? randomBytes(24).toString('hex');
  const config = loadConfig({ ...process.env, MLOPS_ADMIN_TOKEN: adminToken });
  const logger = createLogger(process.env.LOG_LEVEL ?? 'warn');
  const started = Date.now();
  const stack = await startStack({
    config,
    logger,
    devServer: true,
    worker: true,
    api: true,
    gateway: true,
  });
  const context: DemoContext = {
    config,
    client: stack.client!,
    api: new ApiClient(stack.apiUrl!, adminToken),
    starter: new ApiClient(stack.apiUrl!, adminToken),
    uiUrl: stack.uiUrl,
    gatewayUrl: stack.gatewayUrl!,
    emails: await heldOutEmails(),
    report: {
      startedAt: new Date(started).toISOString(),
      temporalUi: stack.uiUrl,
      versions: [],
      releases: [],
    },
  };

  try {
    context.starter = await setUpStarter(context);
    const v1 = await train(context, 'spam-filter-v1.yaml');
    const first = await release(context, v1, 'release-first.yaml', {});

    const approver = await setUpApprovers(context);
    const v2 = await train(context, 'spam-filter-v2.yaml');
    const canary = await release(context, v2, 'release-canary.yaml', { approver });

    const v3 = await train(context, 'spam-filter-v3.yaml');
    await setFault(context, v3, {
      errorRate: 0.3,
      reason: `rollback drill: 30% of v${v3} answers fail`,
    });
    const drill = await release(context, v3, 'release-canary.yaml', { approver });
    await setFault(context, v3, { errorRate: 0, reason: 'rollback drill over' });

    const { datasets } = await context.api.get<{ datasets: DatasetSummary[] }>('/v1/datasets');
    context.report.datasets = datasets;
    const corpus = datasets.find((dataset) => dataset.name === 'spam-assassin');
    const v2Record = await context.api.get<ModelVersionRecord>(
      `/v1/models/${MODEL}/versions/${v2}`,
    );
    const evaluation = v2Record.evaluation as { accuracy: number; f1: number };
    const production = await context.api.get<ModelVersionRecord>(
      `/v1/models/${MODEL}/versions/production`,
    );
    process.stdout.write(
      `\n== summary\n` +
        `corpus: ${JSON.stringify(corpus?.report?.rowsRead)} e-mails read, ${corpus?.rowCount} kept, dropped ${JSON.stringify(corpus?.report?.dropped)}, repairs ${JSON.stringify(corpus?.report?.repaired)}\n` +
        `v${v2} on the date split: accuracy ${evaluation.accuracy.toFixed(4)} (target >= 0.95), spam F1 ${evaluation.f1.toFixed(4)} (target >= 0.90)\n` +
        `releases: v${v1} ${first.outcome}, v${v2} ${canary.outcome}, v${v3} ${drill.outcome} (${drill.reason})\n` +
        `production is now v${production.version}\n`,
    );
    const { entries } = await context.api.get<{ entries: AuditRow[] }>(`/v1/models/${MODEL}/audit`);
    const decisions = entries.filter((entry) =>
      /^release\.(start|approve|reject)$/.test(entry.action),
    );
    context.report.decisions = decisions;
    process.stdout.write('decisions (mlops audit spam-filter):\n');
    printAudit(decisions.reverse());

    context.report.finishedAt = new Date().toISOString();
    context.report.durationSeconds = (Date.now() - started) / 1000;
    const out = path.join(config.dataDir, 'demo', 'report.json');
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, `${JSON.stringify(context.report, null, 2)}\n`);
    process.stdout.write(
      `report: ${out}\nTemporal UI: ${stack.uiUrl} (run \`./bin/mlops.mjs dev\` to browse these histories later)\ndone in ${context.report.durationSeconds} s\n`,
    );
    const asExpected =
      first.outcome === 'promoted' &&
      canary.outcome === 'promoted' &&
      drill.outcome === 'rolled-back' &&
      production.version === v2;
    return asExpected ? 0 : 1;
  } finally {
    await stack.stop();
  }
}

/** Trains one spec, prints its registry record, and returns the version number. */
async function train(context: DemoContext, file: string): Promise<number> {
  const { raw, spec } = readTrainingSpec(path.join(SPECS, file));
  // Started through the API as `demo` (scope train), the way CI starts runs.
  const { workflowId } = await context.starter.request<{ workflowId: string }>('POST', '/v1/runs', {
    spec: raw,
    runId: newRunId(),
  });
  const handle = context.client.workflow.getHandle<typeof trainingPipelineWorkflow>(workflowId);
  const { runId: executionId } = await handle.describe();
  const uiUrl = temporalUiLink(
    context.uiUrl,
    context.config.TEMPORAL_NAMESPACE,
    handle.workflowId,
    executionId,
  );
  process.stdout.write(`\n== train ${file}: ${handle.workflowId}\n`);
  const stepStarted = Date.now();
  const result = await waitWithProgress(handle, true);
  const record = await context.api.get<ModelVersionRecord>(
    `/v1/models/${spec.model}/versions/${result.version}`,
  );
  printRecord(record, uiUrl);
  process.stdout.write(
    `  outcome          ${result.outcome}${result.gate.reasons.length ? `: ${result.gate.reasons.join('; ')}` : ''} (${((Date.now() - stepStarted) / 1000).toFixed(1)} s)\n`,
  );
  context.report.versions.push({
    spec: file,
    workflowId: handle.workflowId,
    uiUrl,
    outcome: result.outcome,
    gate: result.gate,
    baseline: result.baseline,
    record,
  });
  if (result.outcome !== 'accepted')
    throw new Error(
      `${file}: the gate rejected v${result.version}: ${result.gate.reasons.join('; ')}`,
    );
  return result.version;
}

/** Releases a version while held-out e-mails flow through the gateway; prints the timeline. */
async function release(
  context: DemoContext,
  version: number,
  planFile: string,
  options: { approver?: ApiClient },
): Promise<ReleaseResult> {
  const plan = readReleasePlan(path.join(SPECS, planFile));
  // Started through the API as `demo` (scope release): audited as release.start.
  const { workflowId } = await context.starter.request<{ workflowId: string }>(
    'POST',
    '/v1/releases',
    { model: MODEL, version, plan },
  );
  const handle = context.client.workflow.getHandle<typeof releaseWorkflow>(workflowId);
  const { runId: executionId } = await handle.describe();
  const uiUrl = temporalUiLink(
    context.uiUrl,
    context.config.TEMPORAL_NAMESPACE,
    workflowId,
    executionId,
  );
  process.stdout.write(`\n== release v${version} with ${planFile}: ${workflowId}\n  ${uiUrl}\n`);

  // Real traffic for as long as the release runs: 40 e-mails a second, labels 1 s later.
  const stopTraffic = new AbortController();
  const traffic: Promise<ReplaySummary> = replayTraffic(
    {
      gatewayUrl: context.gatewayUrl,
      model: MODEL,
      rate: 40,
      durationMs: 3_600_000,
      labelsAfterSeconds: 1,
      signal: stopTraffic.signal,
    },
    context.emails,
  );
  const approving = options.approver
    ? approveWhenAsked(handle, options.approver, version)
    : Promise.resolve();
  const result = await handle.result().finally(() => stopTraffic.abort());
  await approving;
  const replayed = await traffic;

  printStatus(result.status);
  process.stdout.write(
    `  traffic: ${replayed.sent} e-mails sent, ${replayed.errors} errors, by version ${JSON.stringify(replayed.byVersion)}\n`,
  );
  context.report.releases.push({
    version,
    plan: planFile,
    workflowId,
    uiUrl,
    outcome: result.outcome,
    reason: result.reason,
    timeline: result.status.timeline,
    lastChecks: result.status.recentChecks,
    traffic: replayed,
  });
  return result;
}

/** `demo`: trains and releases through the API with its own token, as CI would. */
async function setUpStarter(context: DemoContext): Promise<ApiClient> {
  await context.api.request('PUT', '/v1/identities/demo', { displayName: 'npm run demo (as CI)' });
  const { token } = await context.api.request<{ token: string }>('POST', '/v1/tokens', {
    identity: 'demo',
    scopes: ['read', 'train', 'release'],
    description: 'npm run demo',
  });
  return new ApiClient(context.api.baseUrl, token);
}

/**
 * Access as a platform team sets it up: only the release-managers group approves
 * spam-filter, and not the person who started the release. The demo starts releases as
 * `demo` and approves as `demo-approver`, through the API with that identity's token.
 */
async function setUpApprovers(context: DemoContext): Promise<ApiClient> {
  await context.api.request('PUT', '/v1/identities/demo-approver', {
    displayName: 'demo release manager',
    groups: ['release-managers'],
  });
  const { token } = await context.api.request<{ token: string }>('POST', '/v1/tokens', {
    identity: 'demo-approver',
    scopes: ['read', 'approve'],
    description: 'npm run demo',
  });
  await context.api.request('PUT', `/v1/models/${MODEL}/access`, {
    approvers: ['group:release-managers'],
    starterMayApprove: false,
  });
  process.stdout.write(
    `\n== access: ${MODEL} releases are approved by group:release-managers (demo-approver), never by their starter\n`,
  );
  return new ApiClient(context.api.baseUrl, token);
}

/** Approves the release's gate once it asks, as a release manager would after reading the checks. */
async function approveWhenAsked(
  handle: { query<T>(name: string): Promise<T> },
  approver: ApiClient,
  version: number,
): Promise<void> {
  for (;;) {
    const status = await handle.query<ReleaseStatus>('status').catch(() => null);
    if (!status || status.outcome !== 'running') return;
    if (status.stage === 'awaiting-approval') {
      const { message } = await approver.request<{ message: string }>(
        'POST',
        `/v1/releases/${MODEL}/${version}/approve`,
        { reason: 'every canary step passed its checks' },
      );
      process.stdout.write(`  approval: ${message} (through the API, audited)\n`);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function setFault(
  context: DemoContext,
  version: number,
  fault: { errorRate: number; reason: string },
): Promise<void> {
  await context.api.request('PUT', `/v1/admin/faults/${MODEL}/${version}`, {
    errorRate: fault.errorRate,
    reason: fault.reason,
  });
  process.stdout.write(
    `\n== fault injection on v${version}: error rate ${fault.errorRate} (${fault.reason})\n`,
  );
}

demo().then(
  (code) => process.exit(code),
  (error: unknown) => {
    // A taken port is the user's to fix, not a bug: its message says how; no stack.
    if (error instanceof PortInUseError) {
      process.stderr.write(`demo refused to start: ${error.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`demo failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(3);
  },
);
