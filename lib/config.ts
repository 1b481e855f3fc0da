import path from 'node:path';
import { z } from 'zod';
import { formatZodError } from './errors.js';

/**
 * Process configuration, read once from the environment and validated with zod.
 * Every variable is optional; the defaults give a laptop setup under `.data/`.
 */
/** A TCP port from the environment; an empty value means unset, not port 0. */
const port = (fallback: number) =>
  z.preprocess(
    (value) => (value === '' || value === undefined ? undefined : Number(value)),
    z
      .number({ error: 'must be a port number' })
      .int('must be a whole number')
      .min(0)
      .max(65535)
      .default(fallback),
  );

export const ConfigSchema = z.object({
  MLOPS_HOME: z.string().min(1).default('.data'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must start with postgres:// or postgresql://')
    .optional(),
  TEMPORAL_ADDRESS: z
    .string()
    .regex(
      /^[^:\s]+:([1-9]\d{0,3}|[1-5]\d{4}|6[0-4]\d{3}|65[0-4]\d{2}|655[0-2]\d|6553[0-5])$/,
      'must be host:port with a port from 1 to 65535',
    )
    .default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_UI_URL: z.string().url().default('http://127.0.0.1:8233'),
  MLOPS_TASK_QUEUE: z.string().min(1).default('mlops-training'),
  MLOPS_API_URL: z.string().url().default('http://127.0.0.1:8080'),
  MLOPS_API_PORT: port(8080),
  /** Listen address of the API; 0.0.0.0 inside a container. */
  MLOPS_API_HOST: z.string().min(1).default('127.0.0.1'),
  MLOPS_GATEWAY_PORT: port(8090),
  MLOPS_GATEWAY_HOST: z.string().min(1).default('127.0.0.1'),
  /**
   * The bootstrap admin token: acts as identity `admin` with every scope, to create the
   * first identities and tokens. Unset, only database tokens are accepted.
   */
  MLOPS_ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** The CLI's API token; without it the CLI reads `<MLOPS_HOME>/api-token` (written by `mlops dev`). */
  MLOPS_API_TOKEN: z.string().min(1).optional(),
  /** Slack bot token (xoxb-...) for approval requests and notices; unset sends none. */
  MLOPS_SLACK_BOT_TOKEN: z.string().min(1).optional(),
  /** Slack Web API base URL; tests point it at a local recorder. */
  MLOPS_SLACK_API_URL: z.string().url().default('https://slack.com/api/'),
  /** Channel for approval requests of models whose access settings name none. */
  MLOPS_SLACK_CHANNEL: z.string().min(1).optional(),
  /** Slack app signing secret; the bridge refuses to start without one. */
  MLOPS_SLACK_SIGNING_SECRET: z.string().optional(),
  /** The bridge's own API token (scopes delegate and read). */
  MLOPS_SLACK_BRIDGE_TOKEN: z.string().min(1).optional(),
  MLOPS_SLACK_PORT: port(8091),
  MLOPS_SLACK_HOST: z.string().min(1).default('127.0.0.1'),
  MLOPS_ARTIFACT_ROOT: z.string().min(1).optional(),
  MLOPS_CODE_REVISION: z.string().min(1).optional(),
  /** How long a stopping worker lets in-flight activities finish before cancelling them. */
  MLOPS_SHUTDOWN_GRACE: z
    .string()
    .regex(/^\d+(ms|s|m)$/, 'must be a duration like 500ms, 30s or 2m')
    .default('30s'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});
export type Config = z.infer<typeof ConfigSchema> & {
  dataDir: string;
  artifactRoot: string;
};

/** Parses `env` (process.env by default); throws a ConfigError naming each bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // An empty variable is an unset one (compose writes `${X:-}` as ""), except the signing
  // secret: set but empty must stop the Slack bridge, not look unconfigured.
  const given = Object.fromEntries(
    Object.entries(env).filter(
      ([key, value]) => value !== '' || key === 'MLOPS_SLACK_SIGNING_SECRET',
    ),
  );
  const parsed = ConfigSchema.safeParse(given);
  if (!parsed.success) {
    // Show each bad value so the person can see the typo, but never a secret.
    const shown = Object.fromEntries(
      Object.entries(given).map(([key, value]) => [
        key,
        /TOKEN|PASSWORD|DATABASE_URL|SECRET/.test(key) ? '(hidden)' : value,
      ]),
    );
    throw new ConfigError(
      `invalid environment: ${formatZodError(parsed.error, shown)}; fix the variable and run again`,
    );
  }
  const dataDir = path.resolve(parsed.data.MLOPS_HOME);
  return {
    ...parsed.data,
    dataDir,
    artifactRoot: path.resolve(parsed.data.MLOPS_ARTIFACT_ROOT ?? path.join(dataDir, 'artifacts')),
  };
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}
