import type { RequestHandler } from 'express';
import type { Redis } from 'ioredis';
import { AppError, ErrorCode } from './errors';
import type { Logger } from './logger';

/** Counts one hit in a fixed window; returns [hits in this window, ms until it ends]. */
const HIT = `
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}`;

export interface RateLimit {
  /** Names the limited action in keys and messages, e.g. `create`. */
  readonly name: string;
  /** Requests allowed per client per window; 0 turns the limiter off. */
  readonly limit: number;
  readonly windowSeconds: number;
}

/**
 * A per-client fixed-window limiter kept in Redis, so every worker of every
 * pod shares one count per client. The client is `req.ip` (the socket's
 * address, or X-Forwarded-For behind TRUST_PROXY_HOPS proxies). Over the
 * limit: 429 with Retry-After; every answer carries RateLimit-Limit,
 * -Remaining and -Reset. When Redis cannot answer the request is let
 * through (fail open): an outage of the cache must not stop link creation,
 * which PostgreSQL alone can serve.
 */
export function rateLimit(redis: Redis, rule: RateLimit, log: Logger): RequestHandler {
  const windowMs = rule.windowSeconds * 1000;
  return (req, res, next) => {
    if (rule.limit === 0) {
      next();
      return;
    }
    const key = `ratelimit:${rule.name}:${req.ip ?? 'unknown'}`;
    (redis.eval(HIT, 1, key, windowMs) as Promise<[number, number]>).then(
      ([hits, ttlMs]) => {
        const resetSeconds = Math.max(1, Math.ceil(ttlMs / 1000));
        res.setHeader('RateLimit-Limit', rule.limit);
        res.setHeader('RateLimit-Remaining', Math.max(0, rule.limit - hits));
        res.setHeader('RateLimit-Reset', resetSeconds);
        if (hits <= rule.limit) {
          next();
          return;
        }
        res.setHeader('Retry-After', resetSeconds);
        next(
          new AppError(
            ErrorCode.RateLimited,
            `too many '${rule.name}' requests from this client: the limit is ${rule.limit} per ${rule.windowSeconds} s; retry in ${resetSeconds} s`,
          ),
        );
      },
      (err: unknown) => {
        log.warn({ err, limiter: rule.name }, 'rate limiter unavailable; request let through');
        next();
      },
    );
  };
}
