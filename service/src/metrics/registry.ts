import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Redis } from 'ioredis';
import type { Database } from '../db/client';
import type { SizingReport } from '../health/sizing-guard';
import { BoundHistogram } from './histogram';
import { Tallies, type Tally } from './tally';

/** The request histogram's buckets, s: a latency SLO's threshold must be one of them (infra/monitoring). */
export const HTTP_DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] as const;

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

/**
 * The worker's metrics. Each PM2 worker keeps its own registry; the metrics
 * server (./server.ts) merges every worker's registry into one answer per pod,
 * so a scrape never sees one random worker's counters. Gauges that must not be
 * summed across workers say how they aggregate.
 */
export function createMetrics(deps: {
  db: Database;
  redis: Redis;
  sizing: SizingReport;
  workerIndex: number;
  /** Entries in this worker's local cache, read at each scrape. */
  localEntries: () => number;
  /** Whether this worker answers /ready 200, read at each scrape. */
  ready: () => boolean;
}): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 });
  const { db, redis, sizing, localEntries } = deps;
  const httpDuration = new BoundHistogram(
    'http_request_duration_seconds',
    'HTTP request duration by route template and status',
    ['method', 'route', 'status'] as const,
    HTTP_DURATION_BUCKETS,
    registry,
  );
  const redirects = new Tallies();
  new Counter({
    name: 'boltlink_redirects_total',
    help: 'Redirects answered (302)',
    registers: [registry],
    collect() {
      redirects.collect(this);
    },
  });
  const linksCreated = new Counter({
    name: 'boltlink_links_created_total',
    help: 'Links created',
    registers: [registry],
  });
  const cacheLookups = new Tallies(['tier', 'result'] as const);
  new Counter({
    name: 'boltlink_cache_lookups_total',
    help: 'Lookups on the redirect path by tier (local, redis, database) and result (hit, miss, error)',
    labelNames: ['tier', 'result'] as const,
    registers: [registry],
    collect() {
      cacheLookups.collect(this);
    },
  });
  const invalidations = new Counter({
    name: 'boltlink_cache_invalidations_total',
    help: "Invalidations received over Redis pub/sub (each evicts one slug from a worker's local cache)",
    registers: [registry],
  });
  new Gauge({
    name: 'boltlink_local_cache_entries',
    help: "Entries in the workers' local link caches",
    registers: [registry],
    collect() {
      this.set(localEntries());
    },
  });
  const aggregationMisses = new Counter({
    name: 'boltlink_metrics_aggregation_misses_total',
    help: 'Workers that did not answer a /metrics aggregation within its deadline',
    registers: [registry],
  });
  new Gauge({
    name: 'boltlink_db_pool_connections',
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
    name: 'boltlink_redis_connected_workers',
    help: 'Workers whose Redis connection is ready',
    registers: [registry],
    collect() {
      this.set(redis.status === 'ready' ? 1 : 0);
    },
  });
  // Per worker, labelled by its PM2 instance number, so the pod's sum keeps one series per worker:
  // PM2 restarts a worker on its own memory (max_memory_restart) and the alerts watch each one.
  // 'max' where two workers briefly share a number while PM2 renumbers them during a reload.
  const worker = { worker: String(deps.workerIndex) };
  new Gauge({
    name: 'boltlink_worker_resident_memory_bytes',
    help: "Resident memory of each PM2 worker (what PM2's max_memory_restart compares)",
    labelNames: ['worker'] as const,
    aggregator: 'max',
    registers: [registry],
    collect() {
      this.set(worker, process.memoryUsage.rss());
    },
  });
  new Gauge({
    name: 'boltlink_worker_heap_used_bytes',
    help: 'V8 heap in use in each PM2 worker (against boltlink_sizing_heap_limit_bytes)',
    labelNames: ['worker'] as const,
    aggregator: 'max',
    registers: [registry],
    collect() {
      this.set(worker, process.memoryUsage().heapUsed);
    },
  });
  new Gauge({
    name: 'boltlink_worker_ready',
    help: 'Whether each PM2 worker answers /ready 200 (1) or not (0)',
    labelNames: ['worker'] as const,
    aggregator: 'max',
    registers: [registry],
    collect() {
      this.set(worker, deps.ready() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'boltlink_worker_start_time_seconds',
    help: 'Start time of each PM2 worker; a change is a restart (changes() over a window counts them)',
    labelNames: ['worker'] as const,
    registers: [registry],
  }).set(worker, Math.round(Date.now() / 1000));
  new Gauge({
    name: 'boltlink_sizing_workers',
    help: 'PM2 workers per pod baked from infra/sizing.ts',
    aggregator: 'max',
    registers: [registry],
  }).set(sizing.workers);
  new Gauge({
    name: 'boltlink_sizing_heap_limit_bytes',
    help: 'V8 heap limit per worker',
    aggregator: 'max',
    registers: [registry],
  }).set(sizing.heapMiBPerWorker * 1024 * 1024);
  new Gauge({
    name: 'boltlink_sizing_cpu_quota',
    help: 'CPUs of cgroup quota seen by the worker (-1: unlimited)',
    aggregator: 'max',
    registers: [registry],
  }).set(sizing.cpuQuota ?? -1);
  return {
    registry,
    httpDuration,
    redirects: redirects.labels(),
    linksCreated,
    cacheLookups,
    invalidations,
    aggregationMisses,
  };
}
