// HTTP load for the benchmarks, from vegeta (a Go load generator, installed by
// `node scripts/bootstrap.mjs --bench` into .tools/bin): a process of its own that costs the
// two cores here far less than a Node client, and paces an open-loop rate by the clock, so a
// slow answer shows as latency and never as a lower rate.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const VEGETA = path.resolve('.tools/bin/vegeta');

export interface LoadResult {
  /** Answers per second, successful or not. */
  rate: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Requests that failed or answered other than 200. */
  errors: number;
  requests: number;
  /** CPU time the server process spent during the run, all its threads, when its pid was given. */
  serverCpuMs: number | null;
  /** CPU time PostgreSQL's processes spent during the run. */
  postgresCpuMs: number;
}

/**
 * CPU time a process has had so far, in nanoseconds, summed over its threads (Linux
 * schedstat); null where /proc does not tell.
 */
export function cpuNanoseconds(pid: number): number | null {
  try {
    let total = 0;
    for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
      const line = fs.readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8');
      total += Number(line.split(' ')[0]);
    }
    return total;
  } catch {
    return null;
  }
}

/**
 * Writes vegeta targets (its JSON line format) that POST each body to `url` in turn; the
 * attack goes round them, so every request of a run is one of these bodies.
 */
export function writeTargets(file: string, url: string, bodies: string[]): void {
  const lines = bodies.map((body) =>
    JSON.stringify({
      method: 'POST',
      url,
      header: { 'Content-Type': ['application/json'] },
      body: Buffer.from(body).toString('base64'),
    }),
  );
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
}

/** CPU time of every process named `command` so far, in nanoseconds (Linux; 0 elsewhere). */
export function cpuOfCommand(command: string): number {
  let total = 0;
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  } catch {
    return 0;
  }
  for (const pid of pids) {
    try {
      if (fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === command)
        total += cpuNanoseconds(Number(pid)) ?? 0;
    } catch {
      // It ended meanwhile.
    }
  }
  return total;
}

/**
 * Sends the targets for `seconds`: at `rate` requests a second, evenly paced, or, with
 * `connections`, as fast as that many connections answer (each waits for its answer).
 * With `serverPid`, also reads how much CPU the server spent meanwhile.
 */
export async function attack(
  targetsFile: string,
  seconds: number,
  pace: { rate: number } | { connections: number },
  serverPid?: number,
): Promise<LoadResult> {
  if (!fs.existsSync(VEGETA))
    throw new Error(`${VEGETA} is missing; run \`node scripts/bootstrap.mjs --bench\` first`);
  const rateArgs =
    'rate' in pace
      ? [`-rate=${pace.rate}/1s`]
      : ['-rate=0', `-workers=${pace.connections}`, `-max-workers=${pace.connections}`];
  const results = path.join(path.dirname(targetsFile), `results-${process.pid}.bin`);
  const cpuBefore = serverPid === undefined ? null : cpuNanoseconds(serverPid);
  const postgresBefore = cpuOfCommand('postgres');
  await new Promise<void>((resolve, reject) => {
    const child = spawn(
      VEGETA,
      [
        'attack',
        '-format=json',
        `-targets=${targetsFile}`,
        `-duration=${seconds}s`,
        `-output=${results}`,
        ...rateArgs,
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`vegeta attack exited with ${code}`)),
    );
  });
  const cpuAfter = serverPid === undefined ? null : cpuNanoseconds(serverPid);
  const postgresCpuMs = (cpuOfCommand('postgres') - postgresBefore) / 1e6;
  const { stdout } = await run(VEGETA, ['report', '-type=json', results], {
    maxBuffer: 16 * 1024 * 1024,
  });
  fs.rmSync(results, { force: true });
  const report = JSON.parse(stdout) as {
    latencies: { '50th': number; '99th': number; max: number };
    rate: number;
    duration: number;
    requests: number;
    status_codes: Record<string, number>;
  };
  const ms = (nanoseconds: number): number => nanoseconds / 1e6;
  return {
    rate: report.requests / (report.duration / 1e9),
    p50Ms: ms(report.latencies['50th']),
    p99Ms: ms(report.latencies['99th']),
    maxMs: ms(report.latencies.max),
    errors: report.requests - (report.status_codes['200'] ?? 0),
    requests: report.requests,
    serverCpuMs: cpuBefore !== null && cpuAfter !== null ? (cpuAfter - cpuBefore) / 1e6 : null,
    postgresCpuMs,
  };
}
