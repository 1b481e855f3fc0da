import { Runtime, type LogLevel, type LogMetadata } from '@temporalio/worker';
import type { Logger } from '../lib/logger.js';

let installed = false;

/**
 * Routes the Temporal runtime's logs (SDK, workflow `log`, activity context, native
 * core) through our pino logger. Installs once per process; later calls are no-ops.
 */
export function installTemporalRuntime(logger: Logger): void {
  if (installed) return;
  installed = true;
  const temporal = logger.child({ component: 'temporal' });
  const write = (level: LogLevel, message: string, meta?: LogMetadata): void => {
    const fields = { ...(meta ?? {}) };
    switch (level) {
      case 'TRACE':
        temporal.trace(fields, message);
        break;
      case 'DEBUG':
        temporal.debug(fields, message);
        break;
      case 'INFO':
        temporal.info(fields, message);
        break;
      case 'WARN':
        temporal.warn(fields, message);
        break;
      case 'ERROR':
        temporal.error(fields, message);
        break;
    }
  };
  Runtime.install({
    logger: {
      log: write,
      trace: (message, meta) => write('TRACE', message, meta),
      debug: (message, meta) => write('DEBUG', message, meta),
      info: (message, meta) => write('INFO', message, meta),
      warn: (message, meta) => write('WARN', message, meta),
      error: (message, meta) => write('ERROR', message, meta),
    },
    // The process owns its signals: `mlops` drains the worker, then closes the API and database.
    shutdownSignals: [],
    telemetryOptions: { logging: { filter: { core: 'WARN', other: 'WARN' }, forward: {} } },
  });
}
