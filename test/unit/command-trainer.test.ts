import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCommandTrainer, TrainerError } from '../../lib/trainers/command-trainer.js';

const run = (command: string[]) =>
  runCommandTrainer({
    command,
    input: {
      snapshotPath: '/nonexistent',
      params: {},
      seed: 1,
      outputDir: fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-trainer-')),
    },
    timeoutMs: 10_000,
  });

describe('runCommandTrainer', () => {
  it('reports a trainer that exits without reading its input by its exit code and stderr, not EPIPE', async () => {
    const error = await run(['sh', '-c', 'echo boom >&2; exit 1']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrainerError);
    expect((error as Error).message).toBe('trainer sh exited with 1: boom');
  });

  it('reports a trainer program that does not exist as a trainer error, which is not retried', async () => {
    const error = await run(['/no/such/trainer']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrainerError);
    expect((error as Error).message).toMatch(/cannot be started \(ENOENT\); check trainer.command/);
  });

  it('refuses output whose last line is not the JSON contract', async () => {
    const error = await run(['sh', '-c', 'cat >/dev/null; echo done']).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(
      /must print a JSON document as its last stdout line \(got "done"\)/,
    );
  });
});
