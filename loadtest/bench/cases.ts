import path from 'node:path';
import { METRICS } from '../../common/metrics';
import { slugOfRank, ZipfSampler, type TrafficModel } from '../traffic';
import type { ServerName } from './servers';
import { writeTrace, type WrkLoad } from './wrk';

export interface Case {
  readonly key: string;
  readonly title: string;
  readonly server: ServerName;
  /** What wrk sends; a trace continues where the case's last run stopped. */
  readonly load: WrkLoad;
  readonly expect: number;
  /** A warm-up before each of its alternating rounds, s: a worker cache the other cases' rounds let expire. */
  readonly roundWarmupSeconds?: number;
  /** Runs right before each measured run (after any warm-up). */
  readonly beforeMeasure?: 'emptyRedis';
}

/** Links the PostgreSQL-read case requests in order, each once: every read misses both caches. */
export const UNCACHED_LINKS = 400_000;
/** Slugs the Redis-cache case rotates over, so that a worker cache of one entry always misses. */
export const REDIS_CASE_LINKS = 1_000;
export const HOT_SLUG = 'bench-cached';
/** Requests in each long-tail trace (wrapped around when a run needs more: the draws are independent). */
const LONG_TAIL_TRACE = 2_000_000;

/**
 * The traces the cases replay, written to `dir`: two long tails drawn from the
 * traffic model with seeds of their own (the same traces on every machine),
 * the PostgreSQL-read case's links in order and the Redis case's in turn.
 */
export async function writeTraces(dir: string, traffic: TrafficModel) {
  const file = (name: string) => path.join(dir, `${name}.trace`);
  const zipf = async (name: string, seed: number) => {
    const sampler = new ZipfSampler(traffic, seed);
    await writeTrace(file(name), LONG_TAIL_TRACE, () => `/${slugOfRank(sampler.next())}`);
    return file(name);
  };
  await writeTrace(file('uncached'), UNCACHED_LINKS, (i) => `/u${i + 1}`);
  await writeTrace(file('redis'), REDIS_CASE_LINKS, (i) => `/rc-${i + 1}`);
  return {
    steady: await zipf('steady', 1),
    cold: await zipf('cold', 2),
    uncached: file('uncached'),
    redis: file('redis'),
  };
}

/** The cases of make bench, in the order they run alone. */
export function benchCases(traces: Awaited<ReturnType<typeof writeTraces>>, token: string): readonly Case[] {
  const hot = { path: `/${HOT_SLUG}` };
  return [
    { key: 'rawHttp', title: '1 raw node:http 302', server: 'raw', load: { path: '/x' }, expect: 302 },
    { key: 'bareExpress', title: '2 bare Express 5 302', server: 'bare', load: { path: '/x' }, expect: 302 },
    {
      key: 'cachedLocal',
      title: '3 BoltLink redirect, one hot link, 1 PM2 worker',
      server: 'pm2',
      load: hot,
      expect: 302,
    },
    {
      key: 'longTailSteady',
      title: '9 BoltLink redirect, long tail, Redis holds every link',
      server: 'pm2',
      load: { trace: traces.steady, wrap: true },
      expect: 302,
      roundWarmupSeconds: 2,
    },
    {
      key: 'create',
      title: '6 BoltLink POST /api/links (PostgreSQL write)',
      server: 'pm2',
      load: { create: '/api/links', token },
      expect: 201,
    },
    {
      key: 'uncached',
      title: '7 BoltLink redirect, PostgreSQL read',
      server: 'pm2',
      load: { trace: traces.uncached, wrap: false },
      expect: 302,
    },
    {
      key: 'longTailCold',
      title: '10 BoltLink redirect, long tail, Redis just emptied',
      server: 'pm2Cold',
      load: { trace: traces.cold, wrap: true },
      expect: 302,
      beforeMeasure: 'emptyRedis',
    },
    {
      key: 'cachedRedis',
      title: '4 BoltLink redirect, Redis cache (worker cache off)',
      server: 'pm2RedisOnly',
      load: { trace: traces.redis, wrap: true },
      expect: 302,
    },
    {
      key: 'cachedPlain',
      title: '5 BoltLink redirect, one hot link, plain node',
      server: 'plain',
      load: hot,
      expect: 302,
    },
    {
      key: 'cachedExpress',
      title: '8 BoltLink redirect, one hot link, fast path off',
      server: 'pm2Express',
      load: hot,
      expect: 302,
    },
  ];
}

/** Which tier answered each redirect of a run, as shares of the worker's lookups (its own /metrics). */
export interface TierShares {
  /** Lookups the shares are of: one per redirect the pipeline accepted. */
  readonly lookups: number;
  /** This worker's cache. */
  readonly workerCache: number;
  /** A miss that joined the lookup another request had in flight for the same slug. */
  readonly joined: number;
  readonly redis: number;
  readonly postgres: number;
  /** Lookups that found Redis failing (then PostgreSQL answered). */
  readonly redisErrors: number;
}

/** Tier shares between two scrapes of a server's metrics. */
export function tierShares(before: Map<string, number>, after: Map<string, number>): TierShares {
  const d = (tier: string, result: string) => {
    const key = `${METRICS.cacheLookups.name}{tier="${tier}",result="${result}"}`;
    return (after.get(key) ?? 0) - (before.get(key) ?? 0);
  };
  const lookups = d('local', 'hit') + d('local', 'miss');
  const share = (n: number) => Math.round((n / Math.max(1, lookups)) * 1000) / 1000;
  return {
    lookups,
    workerCache: share(d('local', 'hit')),
    joined: share(d('local', 'joined')),
    redis: share(d('redis', 'hit')),
    postgres: share(d('database', 'hit') + d('database', 'miss')),
    redisErrors: share(d('redis', 'error')),
  };
}
