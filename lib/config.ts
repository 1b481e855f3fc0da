import path from 'node:path';
import { z } from 'zod';
import { formatZodError } from './errors.js';

/**
 * Process configuration, read once from the environment and validated with zod.
 * Every variable is optional; the defaults give a laptop setup under `.data/`.
 */
export const ConfigSchema = z.object({
  MLOPS_HOME: z.string().min(1).default('.data'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must start with postgres:// or postgresql://')
    .optional(),
  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^:\s]+:\d+$/, 'must be host:port')
    .default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_UI_URL: z.string().url().default('http://127.0.0.1:8233'),
  MLOPS_TASK_QUEUE: z.string().min(1).default('mlops-training'),
  MLOPS_API_URL: z.string().url().default('http://127.0.0.1:8080'),
  MLOPS_API_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  /** Listen address of the API; 0.0.0.0 inside a container. */
  MLOPS_API_HOST: z.string().min(1).default('127.0.0.1'),
  MLOPS_GATEWAY_PORT: z.coerce.number().int().min(0).max(65535).default(8090),
  MLOPS_GATEWAY_HOST: z.string().min(1).default('127.0.0.1'),
  /** Bearer token for admin endpoints (fault injection); unset disables them. */
  MLOPS_ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
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
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(`invalid environment: ${formatZodError(parsed.error)}`);
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
