import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Redis } from 'ioredis';
import { BYTES_PER_MIB } from '../../../common/contract';
import { HTTP_DURATION_BUCKETS, METRICS } from '../../../common/metrics';
import type { Database } from '../db/client';
import type { SizingReport } from '../health/sizing-guard';
import { BoundHistogram } from './histogram';
import { Tallies, type Tally } from './tally';

export interface Metrics {
  readonly registry: Registry;
  readonly httpDuration: BoundHistogram<'method' | 'route' | 'status'>;
  /** Counted on the redirect path: tallies (./tally.ts) the scrape collects. */
  readonly redirects: Tally;
  readonly linksCreated: Counter;
  readonly cacheLookups: Tallies<'tier' | 'result'>;
  readonly invalidations: Counter;
  readonly aggregationMisses: Counter;
}

interface MetricsDeps {
  db: Database;
  redis: Redis;
  sizing: SizingReport;
  workerIndex: number;
  /** Entries in this worker's local cache, read at each scrape. */
  localEntries: () => number;
  /** Whether this worker answers /ready 200, read at each scrape. */
  ready: () => boolean;
}

/**
 * The worker's metrics (names from common/metrics.ts). Each PM2 worker keeps its own registry; the metrics
 * server (./server.ts) merges every worker's registry into one answer per pod,
 * so a scrape never sees one random worker's counters. Gauges that must not be
 * summed across workers say how they aggregate. The steps register in the order /metrics lists them.
 */
export function createMetrics(deps: MetricsDeps): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 });
  const requests = requestMetrics(registry);
  const cache = cacheMetrics(registry, deps.localEntries);
  const aggregationMisses = dependencyMetrics(registry, deps.db, deps.redis);
  workerMetrics(registry, deps.workerIndex, deps.ready);
  sizingMetrics(registry, deps.sizing);
  return { registry, ...requests, ...cache, aggregationMisses };
}

/** Requests by route and status, redirects answered, links created. */
function requestMetrics(registry: Registry) {
  const httpDuration = new BoundHistogram(
    METRICS.httpDuration.name,
    'HTTP request duration by route template and status',
    ['method', 'route', 'status'] as const,
    HTTP_DURATION_BUCKETS,
    registry,
  );
  const redirects = new Tallies();
  new Counter({
    name: METRICS.redirects.name,
    help: 'Redirects answered (302)',
    registers: [registry],
    collect() {
      redirects.collect(this);
    },
  });
  const linksCreated = new Counter({
    name: METRICS.linksCreated.name,
    help: 'Links created',
    registers: [registry],
  });
  return { httpDuration, redirects: redirects.labels(), linksCreated };
}

/** The redirect path's lookups by tier and result, invalidations received, the worker cache's size. */
function cacheMetrics(registry: Registry, localEntries: () => number) {
  const cacheLookups = new Tallies(['tier', 'result'] as const);
  new Counter({
    name: METRICS.cacheLookups.name,
    help: 'Lookups on the redirect path by tier (local, redis, database) and result (hit, miss, error)',
    labelNames: ['tier', 'result'] as const,
    registers: [registry],
    collect() {
      cacheLookups.collect(this);
    },
  });
  const invalidations = new Counter({
    name: METRICS.cacheInvalidations.name,
    help: "Invalidations received over Redis pub/sub (each evicts one slug from a worker's local cache)",
    registers: [registry],
  });
  new Gauge({
    name: METRICS.localCacheEntries.name,
    help: "Entries in the workers' local link caches",
    registers: [registry],
    collect() {
      this.set(localEntries());
    },
  });
  return { cacheLookups, invalidations };
}

/** What a worker waits on: its peers' answers to a /metrics aggregation, the pg pool, Redis. */
function dependencyMetrics(registry: Registry, db: Database, redis: Redis): Counter {
  const aggregationMisses = new Counter({
    name: METRICS.aggregationMisses.name,
    help: 'Workers that did not answer a /metrics aggregation within its deadline',
    registers: [registry],
  });
  new Gauge({
    name: METRICS.dbPoolConnections.name,
    help: 'pg pool connections by state (in use, idle, waiting requests)',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      this.set({ state: 'in_use' }, db.pool.totalCount - db.pool.idleCount);
      this.set({ state: 'idle' }, db.pool.idleCount);
      this.set({ state: 'waiting' }, db.pool.waitingCount);
    },
  });
  new Gauge({
    name: METRICS.redisConnectedWorkers.name,
    help: 'Workers whose Redis connection is ready',
    registers: [registry],
    collect() {
      this.set(redis.status === 'ready' ? 1 : 0);
    },
  });
  return aggregationMisses;
}

/**
 * Per worker, labelled by its PM2 instance number, so the pod's sum keeps one series per worker:
 * PM2 restarts a worker on its own memory (max_memory_restart) and the alerts watch each one.
 * 'max' where two workers briefly share a number while PM2 renumbers them during a reload.
 */
function workerMetrics(registry: Registry, workerIndex: number, ready: () => boolean): void {
  const worker = { worker: String(workerIndex) };
  new Gauge({
    name: METRICS.workerResidentMemory.name,
    help: "Resident memory of each PM2 worker (what PM2's max_memory_restart compares)",
    labelNames: ['worker'] as const,
    aggregator: 'max',
    registers: [registry],
    collect() {
      this.set(worker, process.memoryUsage.rss());
    },
  });
  new Gauge({
    name: METRICS.workerHeapUsed.name,
    help: `V8 heap in use in each PM2 worker (against ${METRICS.sizingHeapLimit.name})`,
    labelNames: ['worker'] as const,
    aggregator: 'max',
    registers: [registry],
    collect() {
      this.set(worker, process.memoryUsage().heapUsed);
    },
  });
  new Gauge({
    name: METRICS.workerReady.name,
    help: 'Whether each PM2 worker answers /ready 200 (1) or not (0)',
    labelNames: ['worker'] as const,
    aggregator: 'max',
    registers: [registry],
    collect() {
      this.set(worker, ready() ? 1 : 0);
    },
  });
  new Gauge({
    name: METRICS.workerStartTime.name,
    help: 'Start time of each PM2 worker; a change is a restart (changes() over a window counts them)',
    labelNames: ['worker'] as const,
    registers: [registry],
  }).set(worker, Math.round(Date.now() / 1000));
}

/** What the worker was sized with and what it sees (the pod's answer: 'max' over its workers). */
function sizingMetrics(registry: Registry, sizing: SizingReport): void {
  new Gauge({
    name: METRICS.sizingWorkers.name,
    help: 'PM2 workers per pod baked from common/sizing.ts',
    aggregator: 'max',
    registers: [registry],
  }).set(sizing.workers);
  new Gauge({
    name: METRICS.sizingHeapLimit.name,
    help: 'V8 heap limit per worker',
    aggregator: 'max',
    registers: [registry],
  }).set(sizing.heapMiBPerWorker * BYTES_PER_MIB);
  new Gauge({
    name: METRICS.sizingCpuQuota.name,
    help: 'CPUs of cgroup quota seen by the worker (-1: unlimited)',
    aggregator: 'max',
    registers: [registry],
  }).set(sizing.cpuQuota ?? -1);
}
