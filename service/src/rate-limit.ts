import { createHash } from 'node:crypto';
import type { RequestHandler } from 'express';
import { rateLimit as expressRateLimit, type RateLimitInfo } from 'express-rate-limit';
import type { Redis } from 'ioredis';
import { RedisStore, type RedisReply } from 'rate-limit-redis';
import { AppError, ErrorCode } from './errors';
import type { Logger } from './logger';

export interface RateLimit {
  /** Names the limited action in keys and messages, e.g. `create`. */
  readonly name: string;
  /** Requests allowed per client per window; 0 turns the limiter off. */
  readonly limit: number;
  readonly windowSeconds: number;
}

/**
 * IPv6 clients are counted per /64: one subscriber (one home, one VM) gets a
 * /64 and can rotate addresses inside it at will. IPv4 and IPv4-mapped
 * addresses are counted per address.
 */
export const IPV6_SUBNET = 64;

/**
 * A per-client fixed-window limiter (express-rate-limit) whose counts live in
 * Redis (rate-limit-redis), so every worker of every pod shares one count per
 * client. The client is `req.ip` (the socket's address, or X-Forwarded-For
 * behind TRUST_PROXY_HOPS proxies). Over the limit: 429 with Retry-After and
 * our JSON error; every answer carries RateLimit-Limit, -Remaining, -Reset
 * and -Policy. When Redis cannot answer the request is let through (fail
 * open, `passOnStoreError`): an outage of the cache must not stop link
 * creation, which PostgreSQL alone can serve.
 */
export function rateLimit(redis: Redis, rule: RateLimit, log: Logger): RequestHandler {
  // express-rate-limit reads `limit: 0` as "refuse everything"; ours means "off".
  if (rule.limit === 0) return (_req, _res, next) => next();
  return expressRateLimit({
    limit: rule.limit,
    windowMs: rule.windowSeconds * 1000,
    ipv6Subnet: IPV6_SUBNET,
    standardHeaders: 'draft-6',
    legacyHeaders: false,
    passOnStoreError: true,
    logger: log.child({ limiter: rule.name }),
    store: new RedisStore({ prefix: `ratelimit:${rule.name}:`, sendCommand: sendCommand(redis) }),
    handler: (req, _res, next) => {
      const { resetTime } = (req as typeof req & { rateLimit: RateLimitInfo }).rateLimit;
      const retryIn = Math.max(1, Math.ceil(((resetTime?.getTime() ?? Date.now()) - Date.now()) / 1000));
      next(
        new AppError(
          ErrorCode.RateLimited,
          `too many '${rule.name}' requests from this client: the limit is ${rule.limit} per ${rule.windowSeconds} s; retry in ${retryIn} s`,
        ),
      );
    },
  });
}

/**
 * Sends the store's commands through the worker's ioredis connection (its key
 * prefix applies to EVALSHA's key). One addition, kept here because the store
 * has no hook for it: rate-limit-redis loads its scripts once, when the
 * limiter is created, and keeps the rejected promise when Redis is down at
 * that moment, so a worker started during a Redis outage would never limit
 * again. A failed SCRIPT LOAD therefore answers the script's SHA1 (what Redis
 * returns for it); the first EVALSHA then gets NOSCRIPT, on which the store
 * loads the script again, from a Redis that is back.
 */
function sendCommand(redis: Redis) {
  return async (command: string, ...args: string[]): Promise<RedisReply> => {
    try {
      return (await redis.call(command, ...args)) as RedisReply;
    } catch (err) {
      if (command === 'SCRIPT' && args[0] === 'LOAD' && args[1] !== undefined) {
        return createHash('sha1').update(args[1]).digest('hex');
      }
      throw err;
    }
  };
}
