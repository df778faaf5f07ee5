import type { Sizing } from '../common/sizing';
import { CONFIG_FIELDS } from '../service/src/config';
import { LocalLinkCache } from '../service/src/links/local-cache';
import { slugOfRank, urlOfRank, ZipfSampler, type TrafficModel } from './traffic';

/** The worker cache as a sizing and the service's defaults configure it. */
export interface WorkerCacheSpec {
  readonly maxEntries: number;
  readonly maxMiB: number;
  readonly ttlMs: number;
}

/**
 * A worker's cache in an environment: the sizing's memory bound (PM2 passes it
 * as LOCAL_CACHE_MAX_MIB) and the service's defaults for the rest.
 */
export const workerCacheOf = (s: Pick<Sizing, 'localCacheMiBPerWorker'>): WorkerCacheSpec => ({
  maxEntries: CONFIG_FIELDS.LOCAL_CACHE_MAX_ENTRIES.parse(undefined),
  maxMiB: s.localCacheMiBPerWorker,
  ttlMs: CONFIG_FIELDS.LOCAL_CACHE_TTL_MS.parse(undefined),
});

/** How long Redis keeps a link the service filled it with (CACHE_TTL_SECONDS), s. */
export const REDIS_TTL_SECONDS: number = CONFIG_FIELDS.CACHE_TTL_SECONDS.parse(undefined);

export interface SimulationOptions {
  readonly model: TrafficModel;
  readonly cache: WorkerCacheSpec;
  /** Redirects one worker answers per second: its share of the release's rate (PM2 and the Service spread them evenly). */
  readonly reqPerSecPerWorker: number;
  /** Requests simulated after the warm-up. @default 1,000,000 */
  readonly requests?: number;
  /** Requests simulated first and not counted, so the cache is in its steady state. @default requests */
  readonly warmupRequests?: number;
  readonly seed?: number;
}

export interface WorkerCacheSimulation {
  /** Share of redirects the worker's own cache answered. */
  readonly workerHitRatio: number;
  readonly requests: number;
  /** Misses of the worker cache by rank (index = rank), for the tiers behind it. */
  readonly missesByRank: Uint32Array;
  readonly sampler: ZipfSampler;
}

/**
 * One worker's cache under the model's traffic, trace-driven: a seeded trace
 * of ranks, each request at its time on a virtual clock (1 / rate apart),
 * through the service's own LocalLinkCache (its LRU, memory bound and TTL)
 * filled on every miss as the service fills it.
 */
export function simulateWorkerCache(o: SimulationOptions): WorkerCacheSimulation {
  const requests = o.requests ?? 1_000_000;
  const warmup = o.warmupRequests ?? requests;
  let now = 0;
  const cache = new LocalLinkCache({
    maxEntries: o.cache.maxEntries,
    maxMiB: o.cache.maxMiB,
    ttlMs: o.cache.ttlMs,
    missingTtlMs: o.cache.ttlMs,
    clock: { now: () => now },
  });
  const sampler = new ZipfSampler(o.model, o.seed);
  const missesByRank = new Uint32Array(o.model.links + 1);
  const stepMs = 1000 / o.reqPerSecPerWorker;
  let misses = 0;
  for (let i = 0; i < warmup + requests; i++) {
    now += stepMs;
    const rank = sampler.next();
    const slug = slugOfRank(rank);
    if (cache.get(slug) !== undefined) continue;
    cache.fill(slug, { url: urlOfRank(rank), expiresAtMs: null }, cache.version);
    if (i < warmup) continue;
    misses++;
    missesByRank[rank]!++;
  }
  return { workerHitRatio: 1 - misses / requests, requests, missesByRank, sampler };
}

/** Where the release's redirects are answered: shares of all redirects, summing to 1. */
export interface TierRatios {
  readonly workerCache: number;
  readonly redis: number;
  readonly postgres: number;
}

/**
 * The tiers behind the worker cache at a release-wide rate: Redis is shared
 * by every pod, and not simulated request by request (an hour of a release's
 * traffic is billions of requests). A link Redis fills on a miss and keeps for
 * T seconds, asked for at λ per second, is missed once per 1 + λT requests (a
 * renewal argument), λ being the link's share of the release's rate.
 */
export function tierRatios(sim: WorkerCacheSimulation, totalReqPerSec: number, redisTtlSeconds = REDIS_TTL_SECONDS) {
  let databaseReads = 0;
  let misses = 0;
  const m = sim.missesByRank;
  for (let rank = 1; rank < m.length; rank++) {
    if (m[rank] === 0) continue;
    misses += m[rank]!;
    databaseReads += m[rank]! / (1 + sim.sampler.probability(rank) * totalReqPerSec * redisTtlSeconds);
  }
  return {
    workerCache: 1 - misses / sim.requests,
    redis: (misses - databaseReads) / sim.requests,
    postgres: databaseReads / sim.requests,
  } satisfies TierRatios;
}

/**
 * Links clicked at least once in `seconds` at a release-wide rate: the rows
 * one click flush updates in PostgreSQL (each link's clicks are one row).
 */
export function linksClickedIn(sampler: ZipfSampler, totalReqPerSec: number, seconds: number): number {
  let distinct = 0;
  for (let rank = 1; rank <= sampler.model.links; rank++) {
    distinct += 1 - Math.exp(-sampler.probability(rank) * totalReqPerSec * seconds);
  }
  return distinct;
}
