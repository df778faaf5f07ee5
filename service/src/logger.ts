import pino from 'pino';
import type { Config } from './config';

export type Logger = pino.Logger;

/**
 * JSON logs on stdout (PM2 and Kubernetes collect stdout). Authorization and
 * cookies are redacted so a token never reaches a log line.
 */
export function createLogger(config: Pick<Config, 'LOG_LEVEL'>): Logger {
  return pino({
    level: config.LOG_LEVEL,
    base: { pid: process.pid },
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'authorization', 'token'],
      censor: '[redacted]',
    },
  });
}
