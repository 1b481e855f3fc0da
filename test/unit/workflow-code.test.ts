import fs from 'node:fs';
import { bundleWorkflowCode } from '@temporalio/worker';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';
import { WORKFLOWS_PATH } from '../../workers/training-worker.js';

describe('workflow code', () => {
  it('bundles without a single bundler warning and without I/O packages inside', async () => {
    const warnings: string[] = [];
    const record = (message: string): void => void warnings.push(message);
    const bundle = await bundleWorkflowCode({
      workflowsPath: WORKFLOWS_PATH,
      logger: {
        log: () => undefined,
        trace: () => undefined,
        debug: () => undefined,
        info: () => undefined,
        warn: record,
        error: record,
      },
    });

    expect(warnings).toEqual([]);
    // Positive control: zod is bundled (the workflows validate specs), so the search below sees module paths.
    expect(bundle.code).toContain('node_modules/zod/');
    for (const forbidden of [
      'node_modules/pg/',
      'node_modules/pino/',
      'node_modules/fastify/',
      'node_modules/@electric-sql/',
      'node_modules/postal-mime/',
      '@temporalio/activity/',
    ]) {
      expect(bundle.code, forbidden).not.toContain(forbidden);
    }
  });

  it('is refused by lint when a workflow keeps state at module level', async () => {
    const eslint = new ESLint();
    const source = [
      "import { proxyActivities } from '@temporalio/workflow';",
      'let releasesSeen = 0;',
      'const routes = new Map<string, number>();',
      'export const pending: string[] = [];',
      "const activities = proxyActivities({ startToCloseTimeout: '1m' });",
      'export async function leakyWorkflow(): Promise<number> {',
      '  releasesSeen += 1;',
      "  routes.set('x', releasesSeen);",
      '  return releasesSeen + pending.length + Object.keys(activities).length;',
      '}',
      '',
    ].join('\n');
    const [result] = await eslint.lintText(source, {
      filePath: `${WORKFLOWS_PATH.replace(/index\.ts$/, '')}leaky.ts`,
    });

    const messages = result!.messages
      .filter((message) => message.ruleId === 'no-restricted-syntax')
      .map((message) => message.line);
    expect(messages).toEqual([2, 3, 4]);
  });

  it('passes lint as committed', async () => {
    const eslint = new ESLint();
    const files = fs
      .readdirSync(WORKFLOWS_PATH.replace(/index\.ts$/, ''))
      .map((name) => `workflows/${name}`);
    const results = await eslint.lintFiles(files);
    expect(
      results.flatMap((result) =>
        result.messages.map((message) => `${result.filePath}:${message.line} ${message.message}`),
      ),
    ).toEqual([]);
  });
});
