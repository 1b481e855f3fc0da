import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, WorkflowNotFoundError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { stringify as toYaml } from 'yaml';
import type { FastifyInstance } from 'fastify';
import type { Db } from '../../lib/db/db.js';
import { setAlias } from '../../lib/registry/aliases.js';
import { getVersion } from '../../lib/registry/versions.js';
import type { TrainingPipelineResult } from '../../workflows/training-pipeline.js';
import {
  freshDatabase,
  scratchDir,
  startTestWorker,
  temporalClient,
  uniqueName,
  type TestWorker,
} from '../helpers/env.js';
import { smallSpec } from '../helpers/specs.js';
import { registerTrainedVersion } from '../helpers/models.js';
import { apiWithUnreachableTemporal, identityWithToken, startTestApi } from '../helpers/access.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `mlops` executable as CI would, against the test run's dev server. */
function mlops(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/mlops.mjs', ...args], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: inject('temporalAddress'),
        // A queue no worker polls: a workflow started by mistake would stay visible, not run.
        MLOPS_TASK_QUEUE: uniqueName('unpolled'),
        LOG_LEVEL: 'silent',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function writeSpec(document: unknown): string {
  const file = path.join(scratchDir(), 'spec.yaml');
  fs.writeFileSync(file, toYaml(document));
  return file;
}

/** A port that nothing listens on: bound by us a moment ago, then released. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('mlops train', () => {
  let client: Client;

  beforeAll(async () => {
    client = await temporalClient();
  });
  afterAll(async () => {
    await client?.connection.close();
  });

  /** Training workflow ids of `model` the dev server's visibility store knows. */
  const trainingWorkflowIds = async (model: string): Promise<string[]> => {
    const ids: string[] = [];
    for await (const execution of client.workflow.list({
      query: `WorkflowId STARTS_WITH 'train/${model}/'`,
    }))
      ids.push(execution.workflowId);
    return ids;
  };

  /** Asserts that neither the exact workflow id nor any training run of `model` exists. */
  const expectNothingStarted = async (model: string, runId: string): Promise<void> => {
    const described = await client.workflow
      .getHandle(`train/${model}/${runId}`)
      .describe()
      .catch((error: unknown) => error);
    expect(described).toBeInstanceOf(WorkflowNotFoundError);
    expect(await trainingWorkflowIds(model)).toEqual([]);
  };

  it('exits 2 naming the field when the spec has an unknown field, and starts nothing', async () => {
    const model = uniqueName('cli');
    const spec = smallSpec(model);
    const file = writeSpec({ ...spec, dataset: { ...spec.dataset, maxRow: 100 } });

    const { code, stderr } = await mlops(['train', '-f', file, '--run-id', 'r1']);

    expect(code).toBe(2);
    expect(stderr).toContain('dataset.maxRow');
    expect(stderr).toMatch(/unknown field/i);
    expect(stderr).toContain('Fix the input');
    await expectNothingStarted(model, 'r1');
  });

  it('exits 2 naming the field and the rule when a gate threshold is negative', async () => {
    const model = uniqueName('cli');
    const file = writeSpec(smallSpec(model, { gate: { minimum: { accuracy: -0.1 } } }));

    const { code, stderr } = await mlops(['train', '-f', file, '--run-id', 'r1']);

    expect(code).toBe(2);
    expect(stderr).toContain('gate.minimum.accuracy: must be >= 0 (got -0.1)');
    await expectNothingStarted(model, 'r1');
  });

  it('exits 2 naming the dataset when the spec has none', async () => {
    const model = uniqueName('cli');
    const { dataset: _dataset, ...withoutDataset } = smallSpec(model);
    const file = writeSpec(withoutDataset);

    const { code, stderr } = await mlops(['train', '-f', file, '--run-id', 'r1']);

    expect(code).toBe(2);
    expect(stderr).toMatch(/dataset: .*(required|expected object)/);
    await expectNothingStarted(model, 'r1');
  });

  it('exits 2 when the spec file does not exist', async () => {
    const file = path.join(scratchDir(), 'missing.yaml');

    const { code, stderr } = await mlops(['train', '-f', file]);

    expect(code).toBe(2);
    expect(stderr).toContain(`spec file ${file} cannot be read: ENOENT`);
  });

  it('exits 2 naming the flag and its rule when the run id is malformed, and starts nothing', async () => {
    const model = uniqueName('cli');
    const file = writeSpec(smallSpec(model));

    const { code, stderr } = await mlops(['train', '-f', file, '--run-id', 'no spaces/allowed']);

    expect(code).toBe(2);
    expect(stderr).toMatch(/--run-id: must be 1-100 letters, digits/);
    expect(stderr).toContain('"no spaces/allowed"');
    expect(await trainingWorkflowIds(model)).toEqual([]);
  });

  it('exits 3 and says how to start the API when nothing listens at MLOPS_API_URL', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const file = writeSpec(smallSpec(uniqueName('cli')));

    const { code, stderr } = await mlops(['train', '-f', file], { MLOPS_API_URL: url });

    expect(code).toBe(3);
    expect(stderr).toContain(`cannot reach the mlops API at ${url}`);
    expect(stderr).toMatch(/start it with `mlops dev` or `mlops api`, or set MLOPS_API_URL/);
  });

  it('exits 3 in one line, no stack trace, when another process holds the embedded database', async () => {
    const home = scratchDir();
    // This test's own process is running, so its pid in the lock holds the database.
    fs.writeFileSync(path.join(home, 'pglite.lock'), String(process.pid));

    const { code, stderr } = await mlops(['serve'], {
      MLOPS_HOME: home,
      MLOPS_GATEWAY_PORT: String(await closedPort()),
    });

    expect(code).toBe(3);
    expect(stderr.trim()).toBe(
      `mlops: the embedded database in ${path.join(home, 'pglite')} is in use by process ${process.pid}; stop that process, or give this one its own MLOPS_HOME or a DATABASE_URL (a PostgreSQL server several processes can share)`,
    );
  });

  it('exits 3 and says how to start Temporal when the API cannot reach it', async () => {
    const address = `127.0.0.1:${await closedPort()}`;
    const db = await freshDatabase();
    const { api, close } = await apiWithUnreachableTemporal(db, address);
    try {
      const env = {
        MLOPS_API_URL: await api.listen({ host: '127.0.0.1', port: 0 }),
        MLOPS_API_TOKEN: await identityWithToken(db, 'ci-bot', { scopes: ['train'] }),
      };
      const file = writeSpec(smallSpec(uniqueName('cli')));

      const { code, stderr } = await mlops(['train', '-f', file], env);

      expect(code).toBe(3);
      expect(stderr).toContain(`cannot reach Temporal at ${address}`);
      expect(stderr).toMatch(/start it with `mlops dev` or set TEMPORAL_ADDRESS/);
    } finally {
      await close();
      await db.close();
    }
  });

  describe('with a worker', () => {
    let db: Db;
    let worker: TestWorker;
    let api: FastifyInstance;
    let apiUrl: string;
    let token: string;

    beforeAll(async () => {
      db = await freshDatabase();
      worker = await startTestWorker({ db });
      ({ api, url: apiUrl } = await startTestApi(db, client, worker.taskQueue));
      token = await identityWithToken(db, 'ci-bot', { scopes: ['read', 'train'] });
    });
    afterAll(async () => {
      await api?.close();
      await worker?.stop();
      await db?.close();
    });

    it('waits for the result and exits 1 with the reasons when the gate rejects the version', async () => {
      const model = uniqueName('cli');
      const file = writeSpec(smallSpec(model, { gate: { minimum: { f1: 0.9999 } } }));
      const env = {
        MLOPS_TASK_QUEUE: worker.taskQueue,
        MLOPS_API_URL: apiUrl,
        MLOPS_API_TOKEN: token,
      };

      const { code, stdout, stderr } = await mlops(
        ['train', '-f', file, '--wait', '--run-id', 'gate-1'],
        env,
      );

      expect(code).toBe(1);
      expect(stdout).toMatch(new RegExp(`${model} v1 +status=rejected`));
      expect(stderr).toMatch(/rejected by its gate: f1 \d\.\d+ is below the minimum 0\.9999/);
      const shown = await mlops(['models', 'show', model, '1', '--json'], env);
      expect(shown.code).toBe(0);
      expect(JSON.parse(shown.stdout)).toMatchObject({ model, version: 1, status: 'rejected' });
    });

    it('exits 2 with the API message for a version that does not exist', async () => {
      const { code, stderr } = await mlops(['models', 'show', 'no-such-model', '7'], {
        MLOPS_API_URL: apiUrl,
        MLOPS_API_TOKEN: token,
      });

      expect(code).toBe(2);
      expect(stderr).toMatch(/model no-such-model has no version 7/);
    });

    it('prints exactly one JSON document with --json, and the same run id is one run', async () => {
      const model = uniqueName('cli');
      const file = writeSpec(
        smallSpec(model, { dataset: { source: 'spam-assassin', maxRows: 300 } }),
      );
      const env = { MLOPS_API_URL: apiUrl, MLOPS_API_TOKEN: token };
      const args = ['train', '-f', file, '--json', '--run-id', 'ci-1'];

      const first = await mlops(args, env);
      const again = await mlops(args, env);

      expect(first.code).toBe(0);
      const document = JSON.parse(first.stdout) as Record<string, unknown>;
      expect(document).toMatchObject({
        workflowId: `train/${model}/ci-1`,
        runId: 'ci-1',
        started: true,
      });
      expect(document.uiUrl).toMatch(/\/workflows\/train%2F/);
      expect(again.code).toBe(0);
      expect(JSON.parse(again.stdout)).toMatchObject({
        workflowId: `train/${model}/ci-1`,
        started: false,
      });

      const handle = client.workflow.getHandle(`train/${model}/ci-1`);
      const result = (await handle.result()) as TrainingPipelineResult;
      expect((await getVersion(db, model, result.version)).lineage.runId).toBe('ci-1');
      await expect.poll(() => trainingWorkflowIds(model)).toEqual([`train/${model}/ci-1`]);
      // Started by the API as the token's identity, once.
      const { rows } = await db.query<{ actor: string; channel: string }>(
        `SELECT actor, channel FROM audit_log WHERE model = $1 AND action = 'run.start'`,
        [model],
      );
      expect(rows).toEqual([{ actor: 'ci-bot', channel: 'cli' }]);
    });
  });
});

describe('mlops release and mlops audit, through the API with tokens', () => {
  let db: Db;
  let worker: TestWorker;
  let api: FastifyInstance;
  let client: Client;
  const env: Record<string, Record<string, string>> = {};

  beforeAll(async () => {
    db = await freshDatabase();
    worker = await startTestWorker({ db });
    client = await temporalClient();
    const { api: started, url: apiUrl } = await startTestApi(db, client, worker.taskQueue);
    api = started;
    for (const [name, scopes] of [
      ['ci-bot', ['read', 'release']],
      ['alice', ['read', 'approve']],
      ['bob', ['read', 'approve']],
      ['ops', ['read', 'admin']],
    ] as const)
      env[name] = {
        MLOPS_API_URL: apiUrl,
        MLOPS_API_TOKEN: await identityWithToken(db, name, { scopes: [...scopes] }),
      };
  });
  afterAll(async () => {
    await api?.close();
    await client?.connection.close();
    await worker?.stop();
    await db?.close();
  });

  it('starts a release as the token holder, refuses an approver the plan does not name, and audits who, channel and why', async () => {
    const model = uniqueName('cli-rel');
    const { version } = await registerTrainedVersion(db, worker.store, model);
    const plan = path.join(scratchDir(), 'plan.yaml');
    fs.writeFileSync(
      plan,
      toYaml({
        steps: [{ weight: 100, bake: '1s' }],
        checks: [{ metric: 'error_rate', against: 'absolute', pass: 0.01, fail: 0.05 }],
        approvals: [{ before: 1, approvers: ['alice'], timeout: '5m' }],
      }),
    );

    const started = await mlops(
      ['release', 'start', model, String(version), '-f', plan, '--json'],
      env['ci-bot'],
    );
    expect(started.code, started.stderr).toBe(0);
    expect(JSON.parse(started.stdout)).toMatchObject({
      workflowId: `release/${model}/v${version}`,
      started: true,
    });
    await expect
      .poll(
        async () =>
          JSON.parse(
            (await mlops(['release', 'status', model, String(version), '--json'], env.bob)).stdout,
          ).stage,
        { timeout: 20_000 },
      )
      .toBe('awaiting-approval');
    // The list shows a running release's stage as it is now, not as it started.
    expect((await mlops(['release', 'ls', model], env.bob)).stdout).toMatch(
      /^v1\trunning\tstage=awaiting-approval\t/m,
    );

    const byBob = await mlops(['release', 'approve', model, String(version)], env.bob);
    expect(byBob.code).toBe(2);
    expect(byBob.stderr).toMatch(
      /approve refused: bob may not approve releases of .*approvers: alice/,
    );
    const byCi = await mlops(['release', 'approve', model, String(version)], env['ci-bot']);
    expect(byCi.code).toBe(2);
    expect(byCi.stderr).toMatch(/needs a token with scope approve/);
    const byAlice = await mlops(
      ['release', 'reject', model, String(version), '--reason', 'wait for the new labels'],
      env.alice,
    );
    expect(byAlice.code, byAlice.stderr).toBe(0);
    expect(byAlice.stdout).toMatch(/rejected by alice/);

    await expect
      .poll(async () => (await mlops(['release', 'ls', model], env.bob)).stdout, {
        timeout: 10_000,
      })
      .toMatch(
        new RegExp(
          `^v1\\trejected\\tstage=done\\tstable=-\\t.*release/${model}/v1#[-0-9a-f]+$`,
          'm',
        ),
      );

    const audit = await mlops(['audit', model], env.bob);
    expect(audit.code).toBe(0);
    const lines = audit.stdout.trim().split('\n').reverse();
    expect(lines.find((line) => / release\.start /.test(line))).toMatch(
      /ci-bot +cli +release\.start v1/,
    );
    expect(lines.find((line) => / release\.approve /.test(line))).toMatch(
      /bob +cli +release\.approve v1 refused/,
    );
    expect(lines.find((line) => / release\.reject /.test(line))).toMatch(
      /alice +cli +release\.reject v1 accepted +why: wait for the new labels/,
    );
  });

  it('sets and clears a fault drill as an admin, refusing a rate that is not a number', async () => {
    const model = uniqueName('cli-fault');
    const { version } = await registerTrainedVersion(db, worker.store, model);
    const fault = async () =>
      (
        await db.query<{ error_rate: number; latency_ms: number }>(
          'SELECT error_rate, latency_ms FROM fault_injections WHERE model = $1',
          [model],
        )
      ).rows;

    const bad = await mlops(
      ['faults', 'set', model, String(version), '--error-rate', 'lots', '--reason', 'drill'],
      env.ops,
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--error-rate: must be a number \(got "lots"\)/);
    expect(await fault()).toEqual([]);

    const byBob = await mlops(
      ['faults', 'set', model, String(version), '--error-rate', '0.5', '--reason', 'drill'],
      env.bob,
    );
    expect(byBob.code).toBe(2);
    expect(byBob.stderr).toMatch(/needs a token with scope admin/);

    const set = await mlops(
      [
        'faults',
        'set',
        model,
        String(version),
        '--error-rate',
        '0.5',
        '--latency-ms',
        '20',
        '--reason',
        'drill',
      ],
      env.ops,
    );
    expect(set.code, set.stderr).toBe(0);
    expect(await fault()).toEqual([{ error_rate: 0.5, latency_ms: 20 }]);
    const cleared = await mlops(
      ['faults', 'clear', model, String(version), '--reason', 'drill over'],
      env.ops,
    );
    expect(cleared.code, cleared.stderr).toBe(0);
    expect(await fault()).toEqual([]);

    const audit = (await mlops(['audit', model], env.ops)).stdout;
    expect(audit).toMatch(/ops +cli +fault\.set v1/);

    const unknown = await mlops(
      ['faults', 'set', model, '99', '--error-rate', '0.5', '--reason', 'drill'],
      env.ops,
    );
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/99/);
    const hex = await mlops(
      ['faults', 'set', model, String(version), '--error-rate', '0x1', '--reason', 'drill'],
      env.ops,
    );
    expect(hex.code).toBe(2);
    const blank = await mlops(
      ['faults', 'set', model, String(version), '--error-rate', '0.5', '--reason', '   '],
      env.ops,
    );
    expect(blank.code).toBe(2);
    expect(blank.stderr).toMatch(/reason: must say why/);
    expect(await fault()).toEqual([]);
  });

  it('refuses at start, exit 2, to release the production version, starting nothing', async () => {
    const model = uniqueName('cli-prod');
    const { version } = await registerTrainedVersion(db, worker.store, model);
    await setAlias(
      db,
      { model, alias: 'production', version },
      { actor: 'test', channel: 'system', reason: 'setup' },
    );
    const plan = path.join(scratchDir(), 'plan.yaml');
    fs.writeFileSync(
      plan,
      toYaml({
        steps: [{ weight: 50, bake: '1s' }],
        checks: [{ metric: 'error_rate', against: 'absolute', pass: 0.01, fail: 0.05 }],
      }),
    );
    const started = await mlops(
      ['release', 'start', model, String(version), '-f', plan],
      env['ci-bot'],
    );
    expect(started.code).toBe(2);
    expect(started.stderr).toMatch(`version: ${model} v${version} is already production`);
    await expect(
      client.workflow.getHandle(`release/${model}/v${version}`).describe(),
    ).rejects.toBeInstanceOf(WorkflowNotFoundError);
  });

  it('refuses to run the Slack bridge with an empty signing secret', async () => {
    const { code, stderr } = await mlops(['slack'], {
      MLOPS_SLACK_SIGNING_SECRET: '',
      MLOPS_SLACK_BRIDGE_TOKEN: 'mlops_000000000000_x',
      MLOPS_SLACK_PORT: '0',
    });
    expect(code).toBe(2);
    expect(stderr).toMatch(
      /MLOPS_SLACK_SIGNING_SECRET is empty \(or blank\): the Slack bridge refuses to start/,
    );
  });
});
