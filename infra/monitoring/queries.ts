import { METRICS as M } from '../../common/metrics';
import { DEPLOYMENT_NAME } from '../names';

/**
 * The one home of BoltLink's PromQL (metric names from common/metrics.ts, as the registry defines them): the dashboard, the alerting and
 * recording rules and docs/monitoring.md's alert table all take their expressions from
 * here. A query takes the range of its rate() (Grafana's $__rate_interval on
 * the dashboard, a fixed window in a rule).
 *
 * Series carry `job="boltlink-backend"` (the PodMonitor's jobLabel, and the
 * job_name of the plain scrape config in charts-out/monitoring/prometheus/),
 * `namespace` and `pod`. One scrape answers for every PM2 worker of a pod:
 * counters are the pod's sums, `boltlink_worker_*` gauges keep a `worker`
 * label each.
 */
export const JOB = DEPLOYMENT_NAME;

/** A series selector for `metric` with the job's label and `matchers` (e.g. `status=~"5.."`). */
export const select = (metric: string, ...matchers: string[]) =>
  `${metric}{${[`job="${JOB}"`, ...matchers].join(',')}}`;

/** The redirect, by its route template: the SLOs' requests. */
export const REDIRECT = 'route="/:slug"';
const requests = (r: string, ...m: string[]) => `sum(rate(${select(`${M.httpDuration.name}_count`, ...m)}[${r}]))`;
const requestsByNamespace = (r: string, ...m: string[]) =>
  `sum by (namespace) (rate(${select(`${M.httpDuration.name}_count`, ...m)}[${r}]))`;
/**
 * Share of requests answered 5xx per namespace (one release each), as
 * 1 − non-5xx/all: a namespace without any 5xx has no 5xx series to divide.
 */
const failedRatio = (r: string, ...m: string[]) =>
  `1 - ${requestsByNamespace(r, ...m, 'status!~"5.."')} / ${requestsByNamespace(r, ...m)}`;

export const queries = {
  /** Requests per second, every route. */
  traffic: (r: string) => requests(r),
  trafficByStatus: (r: string) => `sum by (status) (rate(${select(`${M.httpDuration.name}_count`)}[${r}]))`,
  /** Share of requests answered 5xx. */
  errorRatio: (r: string) => failedRatio(r),
  /** Share of redirects answered 5xx: the availability SLI's complement. */
  redirectErrorRatio: (r: string) => failedRatio(r, REDIRECT),
  /** Share of redirects slower than `seconds` (a histogram bucket): the latency SLI's complement. */
  redirectSlowRatio: (r: string, seconds: number) =>
    `1 - sum by (namespace) (rate(${select(`${M.httpDuration.name}_bucket`, REDIRECT, `le="${seconds}"`)}[${r}])) / ${requestsByNamespace(r, REDIRECT)}`,
  latencyByRoute: (q: number, r: string) =>
    `histogram_quantile(${q}, sum by (le, route) (rate(${select(`${M.httpDuration.name}_bucket`)}[${r}])))`,
  /** CPU seconds per second of a pod's workers over its baked worker count: 1 = every worker busy all the time. */
  cpuSaturation: (r: string, workers: number) =>
    `sum by (namespace, pod) (rate(${select(M.processCpu.name)}[${r}])) / ${workers}`,
  workerResidentMemory: () => `max by (namespace, pod, worker) (${select(M.workerResidentMemory.name)})`,
  workerHeapUsed: () => `max by (namespace, pod, worker) (${select(M.workerHeapUsed.name)})`,
  /** Worker (re)starts in the range, per pod: each changes its start-time gauge once. */
  workerRestarts: (r: string) => `sum by (namespace, pod) (changes(${select(M.workerStartTime.name)}[${r}]))`,
  readyWorkers: () => `sum by (namespace, pod) (${select(M.workerReady.name)})`,
  scrapeUp: () => select('up'),
  cacheLookups: (r: string) => `sum by (tier, result) (rate(${select(M.cacheLookups.name)}[${r}]))`,
  cacheInvalidations: (r: string) => `sum(rate(${select(M.cacheInvalidations.name)}[${r}]))`,
  localCacheEntries: () => `sum by (namespace, pod) (${select(M.localCacheEntries.name)})`,
  dbPool: () => `sum by (namespace, pod, state) (${select(M.dbPoolConnections.name)})`,
  dbPoolWaiting: () => `sum by (namespace, pod) (${select(M.dbPoolConnections.name, 'state="waiting"')})`,
  redisConnectedWorkers: () => `sum by (namespace, pod) (${select(M.redisConnectedWorkers.name)})`,
  aggregationMisses: (r: string) => `sum by (namespace, pod) (increase(${select(M.aggregationMisses.name)}[${r}]))`,
} as const;
