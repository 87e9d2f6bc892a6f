// Structured logs (pino, JSON lines on stderr). Components get child loggers carrying plan and component fields.
import { pino, type Logger as PinoLogger } from 'pino';

export type Logger = Pick<PinoLogger, 'info' | 'warn' | 'error' | 'debug' | 'child'>;

export function createLogger(options: { level?: string; destination?: number } = {}): PinoLogger {
  return pino({ level: options.level ?? process.env.LIFEBOAT_LOG_LEVEL ?? 'info', base: undefined,
    redact: { paths: ['*.data', '*.stringData', 'object.data', 'object.stringData'], censor: '[redacted]' } },
  pino.destination({ fd: options.destination ?? 2, sync: false }));
}

/** A logger that drops everything, for tests and library callers that do not log. */
export const silentLogger: Logger = pino({ level: 'silent' });
