import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { formatZodError } from '../errors.js';

/** What a command trainer must print as the last line of its stdout. */
export const CommandTrainerOutputSchema = z.object({
  /** The model file, relative to the output folder or absolute inside it. */
  modelFile: z.string().min(1),
  metrics: z
    .object({
      accuracy: z.number().min(0).max(1),
      precision: z.number().min(0).max(1),
      recall: z.number().min(0).max(1),
      f1: z.number().min(0).max(1),
      rocAuc: z.number().min(0).max(1),
    })
    .passthrough(),
});
export type CommandTrainerOutput = z.infer<typeof CommandTrainerOutputSchema>;

export class TrainerError extends Error {
  override readonly name = 'TrainerError';
}

/**
 * Runs an external trainer. It gets one JSON document on stdin
 * `{snapshotPath, params, seed, outputDir}` and must exit 0 after printing
 * `{modelFile, metrics}` as its last stdout line. Rejects on a non-zero exit, a
 * timeout, a missing model file or output that breaks the contract; the message
 * carries the trainer's last stderr lines.
 */
export async function runCommandTrainer(options: {
  command: string[];
  input: { snapshotPath: string; params: Record<string, unknown>; seed: number; outputDir: string };
  timeoutMs: number;
  signal?: AbortSignal;
  onAlive?: () => void;
}): Promise<{ modelPath: string; output: CommandTrainerOutput }> {
  const [program, ...args] = options.command;
  fs.mkdirSync(options.input.outputDir, { recursive: true });
  const child = spawn(program!, args, {
    cwd: options.input.outputDir,
    stdio: ['pipe', 'pipe', 'pipe'],
    signal: options.signal,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on(
    'data',
    (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-4000)),
  );
  // A trainer may exit without reading its input; the exit code tells what happened, not EPIPE.
  child.stdin.on('error', () => undefined);
  child.stdin.end(JSON.stringify(options.input));

  const alive = setInterval(() => options.onAlive?.(), 1000);
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'ENOENT' || error.code === 'EACCES'
          ? new TrainerError(
              `trainer ${program} cannot be started (${error.code}); check trainer.command in the spec`,
            )
          : error,
      ),
    );
    child.on('close', resolve);
  }).finally(() => {
    clearInterval(alive);
    clearTimeout(timer);
  });

  const tail = stderr.trim().split('\n').slice(-5).join(' | ');
  if (code !== 0) {
    throw new TrainerError(
      `trainer ${program} exited with ${code ?? 'a signal (timeout?)'}: ${tail || 'no stderr'}`,
    );
  }
  const lastLine = stdout.trim().split('\n').at(-1) ?? '';
  let document: unknown;
  try {
    document = JSON.parse(lastLine);
  } catch {
    throw new TrainerError(
      `trainer ${program} must print a JSON document as its last stdout line (got ${JSON.stringify(lastLine.slice(0, 120))})`,
    );
  }
  const parsed = CommandTrainerOutputSchema.safeParse(document);
  if (!parsed.success) {
    throw new TrainerError(
      `trainer ${program} output is invalid: ${formatZodError(parsed.error, document)}`,
    );
  }
  const modelPath = path.resolve(options.input.outputDir, parsed.data.modelFile);
  if (
    !modelPath.startsWith(path.resolve(options.input.outputDir) + path.sep) ||
    !fs.existsSync(modelPath)
  ) {
    throw new TrainerError(
      `trainer ${program} named model file ${parsed.data.modelFile}, which is not a file in its output folder`,
    );
  }
  return { modelPath, output: parsed.data };
}
