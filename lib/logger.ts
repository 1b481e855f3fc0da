import { pino, type Logger } from 'pino';

/**
 * The process logger: JSON lines on stderr so stdout stays free for `--json` output.
 * Messages are fixed strings; ids and numbers go in the fields object.
 */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { pid: process.pid } }, pino.destination(2));
}

export type { Logger };
