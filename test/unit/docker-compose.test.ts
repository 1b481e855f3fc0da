import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const composeFile = fileURLToPath(new URL('../../docker-compose.yml', import.meta.url));

interface Service {
  image?: string;
  build?: unknown;
  environment?: Record<string, string | number> | string[];
}

/** Compose allows environment as a map or as `KEY=value` entries; normalize to a map. */
function env(service: Service | undefined): Record<string, string> {
  const raw = service?.environment ?? {};
  if (Array.isArray(raw)) {
    return Object.fromEntries(
      raw.map((entry) => {
        const eq = entry.indexOf('=');
        return eq < 0 ? [entry, ''] : [entry.slice(0, eq), entry.slice(eq + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, String(v)]));
}

/**
 * The compose command this machine has: the docker client's compose plugin, else the
 * standalone docker-compose; null when neither. Parsing needs no engine.
 */
function composeCommand(): string[] | null {
  for (const command of [['docker', 'compose'], ['docker-compose']]) {
    const probe = spawnSync(command[0]!, [...command.slice(1), 'version'], {
      stdio: 'ignore',
      timeout: 15_000,
    });
    if (probe.status === 0) return command;
  }
  return null;
}
const compose = composeCommand();

describe('docker-compose.yml', () => {
  const doc = parse(fs.readFileSync(composeFile, 'utf8')) as {
    services: Record<string, Service>;
  };
  const services = doc.services;

  it('defines the production services with postgres and temporal wired in', () => {
    for (const name of ['postgres', 'temporal', 'temporal-ui', 'worker', 'api']) {
      expect(services, `service ${name}`).toHaveProperty(name);
    }

    const postgresUrl = /^postgres(ql)?:\/\/[^@/]+@postgres:5432\/\w+$/;
    expect(env(services.worker).DATABASE_URL).toMatch(postgresUrl);
    expect(env(services.api).DATABASE_URL).toMatch(postgresUrl);
    expect(env(services.worker).TEMPORAL_ADDRESS).toBe('temporal:7233');

    const temporal = env(services.temporal);
    expect(temporal.DB).toBe('postgres12');
    expect(temporal.POSTGRES_SEEDS).toBe('postgres');
  });

  it('runs the Slack bridge against the API with its own token', () => {
    const slack = env(services.slack);
    expect(slack.MLOPS_API_URL).toBe('http://api:8080');
    expect(Object.keys(slack)).toEqual(
      expect.arrayContaining(['MLOPS_SLACK_SIGNING_SECRET', 'MLOPS_SLACK_BRIDGE_TOKEN']),
    );
    expect(Object.keys(env(services.worker))).toContain('MLOPS_SLACK_BOT_TOKEN');
  });

  it.skipIf(compose === null)('is valid according to docker compose config', () => {
    const result = spawnSync(
      compose![0]!,
      [...compose!.slice(1), '-f', composeFile, 'config', '--quiet'],
      {
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    expect(result.status, result.stderr).toBe(0);
  });
});
