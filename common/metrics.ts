/**
 * The service's metric names and the request histogram's buckets: the
 * registry (service/src/metrics/registry.ts) defines its metrics with these
 * names, the PromQL (infra/monitoring/queries.ts) selects them, and a test
 * parses every query and fails on a name missing here (infra/test/monitoring).
 * No prom-client: synth reads this file too.
 */

/** Each metric's name and Prometheus type; a histogram's series add _bucket, _count and _sum. */
export const METRICS = {
  httpDuration: { name: 'http_request_duration_seconds', type: 'histogram' },
  redirects: { name: 'boltlink_redirects_total', type: 'counter' },
  linksCreated: { name: 'boltlink_links_created_total', type: 'counter' },
  cacheLookups: { name: 'boltlink_cache_lookups_total', type: 'counter' },
  cacheInvalidations: { name: 'boltlink_cache_invalidations_total', type: 'counter' },
  localCacheEntries: { name: 'boltlink_local_cache_entries', type: 'gauge' },
  aggregationMisses: { name: 'boltlink_metrics_aggregation_misses_total', type: 'counter' },
  dbPoolConnections: { name: 'boltlink_db_pool_connections', type: 'gauge' },
  redisConnectedWorkers: { name: 'boltlink_redis_connected_workers', type: 'gauge' },
  workerResidentMemory: { name: 'boltlink_worker_resident_memory_bytes', type: 'gauge' },
  workerHeapUsed: { name: 'boltlink_worker_heap_used_bytes', type: 'gauge' },
  workerReady: { name: 'boltlink_worker_ready', type: 'gauge' },
  workerStartTime: { name: 'boltlink_worker_start_time_seconds', type: 'gauge' },
  sizingWorkers: { name: 'boltlink_sizing_workers', type: 'gauge' },
  sizingHeapLimit: { name: 'boltlink_sizing_heap_limit_bytes', type: 'gauge' },
  sizingCpuQuota: { name: 'boltlink_sizing_cpu_quota', type: 'gauge' },
  /** prom-client's default process metrics (collectDefaultMetrics), summed over a pod's workers. */
  processCpu: { name: 'process_cpu_seconds_total', type: 'counter' },
} as const satisfies Record<string, { name: string; type: 'counter' | 'gauge' | 'histogram' }>;

/** The request histogram's buckets, s: a latency SLO's threshold must be one of them (infra/monitoring). */
export const HTTP_DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] as const;
