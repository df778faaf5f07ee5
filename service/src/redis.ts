import { Redis } from 'ioredis';
import type { Config } from './config';

type RedisConfig = Pick<Config, 'REDIS_URL' | 'REDIS_KEY_PREFIX' | 'REDIS_COMMAND_TIMEOUT_MS'>;

/**
 * The worker's Redis connection. Redis is a cache and a click buffer, never
 * the source of truth, so every command must fail fast when Redis is gone:
 * no offline queue (commands would wait for a reconnect), one attempt, a
 * command timeout for a Redis that accepts connections but hangs. Reconnects
 * continue in the background with capped backoff, so the worker recovers
 * without a restart. Auto-pipelining batches the hot path's GETs.
 */
export function createRedis(config: RedisConfig): Redis {
  const redis = new Redis(config.REDIS_URL, {
    keyPrefix: config.REDIS_KEY_PREFIX,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: config.REDIS_COMMAND_TIMEOUT_MS,
    connectTimeout: 2_000,
    enableAutoPipelining: true,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
  // Connection errors are reported by /health; an unhandled 'error' event would crash the worker.
  redis.on('error', () => undefined);
  return redis;
}

/** `host:port/db` of a Redis URL, without its credentials: safe to print. */
export function redisAddress(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || 6379}${u.pathname.length > 1 ? u.pathname : ''}`;
}

/** Resolves once connected, or after `timeoutMs` either way: start-up never waits on a cache. */
export function waitForRedis(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, timeoutMs);
    redis.once('ready', done);
    function done() {
      clearTimeout(timer);
      redis.off('ready', done);
      resolve();
    }
  });
}
