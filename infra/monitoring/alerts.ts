import { DEPLOYMENT_NAME } from '../names';
import { BYTES_PER_MIB } from '../../common/contract';
import { HTTP_DURATION_BUCKETS, METRICS } from '../../common/metrics';
import type { Sizing } from '../../common/sizing';
import { queries } from './queries';

/** A Prometheus rule group, as a rule file and a PrometheusRule's spec both hold it. */
export interface RuleGroup {
  readonly name: string;
  readonly rules: readonly Rule[];
}
export type Rule = RecordingRule | AlertingRule;
export interface RecordingRule {
  readonly record: string;
  readonly expr: string;
}
export interface AlertingRule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels: { readonly severity: 'page' | 'ticket' | 'warning' };
  readonly annotations: { readonly summary: string; readonly description: string; readonly runbook: string };
}

/** The latency objective's threshold, s: a bucket of http_request_duration_seconds (checked in ruleGroups). */
const REDIRECT_LATENCY_SECONDS = 0.1;

const exec = `kubectl exec deploy/${DEPLOYMENT_NAME} --`;
const logs = `kubectl logs deploy/${DEPLOYMENT_NAME} --since=30m`;

/**
 * The service level objectives, over 30 days. A product decision, not a
 * sizing number: 99.9 % of redirects are not a 5xx, and 99 % are answered
 * within 100 ms (as the pod measures it, without the network in front).
 * Each carries the runbook of its burn-rate alerts.
 */
export const SLO = {
  availability: {
    name: 'redirect-availability',
    record: 'boltlink:slo_redirect_errors:ratio_rate',
    alert: 'BoltLinkRedirectErrorBudgetBurn',
    objective: 0.999,
    what: 'redirects answered 5xx',
    sli: (range: string) => queries.redirectErrorRatio(range),
    runbook: () =>
      `Which status and which pods: the dashboard's "5xx ratio" and "Requests by status". 503 with "database unavailable" in ${logs} | grep '"status":503' means PostgreSQL is unreachable or slow (uncached redirects need it); check kubectl get pods, the BoltLinkDbPoolWaiting and BoltLinkRedisDisconnected alerts and the last rollout (kubectl rollout history deployment/${DEPLOYMENT_NAME}; kubectl rollout undo deployment/${DEPLOYMENT_NAME} if it began with it).`,
  },
  latency: {
    name: 'redirect-latency',
    record: 'boltlink:slo_redirect_slow:ratio_rate',
    alert: 'BoltLinkRedirectLatencyBudgetBurn',
    objective: 0.99,
    thresholdSeconds: REDIRECT_LATENCY_SECONDS,
    what: `redirects slower than ${REDIRECT_LATENCY_SECONDS * 1000} ms`,
    sli: (range: string) => queries.redirectSlowRatio(range, REDIRECT_LATENCY_SECONDS),
    runbook: (s: Sizing) =>
      `The dashboard's "Latency by route" and "CPU saturation": saturated pods mean too few replicas (kubectl get hpa ${DEPLOYMENT_NAME}; is it at maxReplicas ${s.maxReplicas}?); a low cache hit ratio ("Cache lookups") sends redirects to Redis and PostgreSQL; BoltLinkDbPoolWaiting means the database is the queue.`,
  },
} as const;
export const SLOS = [SLO.availability, SLO.latency] as const;
type Slo = (typeof SLOS)[number];

/** The share of requests an SLO may fail (1 − objective, without floating-point noise). */
export const errorBudget = (slo: Slo) => Number((1 - slo.objective).toFixed(6));

/**
 * Multi-window, multi-burn-rate alerts (Google's SRE workbook, "Alerting on
 * SLOs", for a 30-day objective): each pair fires when both its long and its
 * short window burn the error budget at `factor` times the sustainable rate;
 * the short window makes the alert stop soon after the burn does.
 */
export const BURN_RATES = [
  { severity: 'page', factor: 14.4, long: '1h', short: '5m', budgetSpent: '2 % of the 30-day budget in an hour' },
  { severity: 'page', factor: 6, long: '6h', short: '30m', budgetSpent: '5 % of the 30-day budget in 6 hours' },
  { severity: 'ticket', factor: 3, long: '1d', short: '2h', budgetSpent: '10 % of the 30-day budget in a day' },
  { severity: 'ticket', factor: 1, long: '3d', short: '6h', budgetSpent: '10 % of the 30-day budget in 3 days' },
] as const;
export const SLO_WINDOWS = [...new Set(BURN_RATES.flatMap((b) => [b.short, b.long]))];

/** Near PM2's max_memory_restart or V8's heap limit: a restart (or an out-of-memory crash) is coming. */
export const NEAR_LIMIT = 0.9;
/** More (re)starts than this per worker in RESTART_WINDOW is a loop; a reload restarts each worker once. */
export const RESTARTS_PER_WORKER = 3;
export const RESTART_WINDOW = '15m';
/** Share of the baked workers' CPU: above it, requests queue behind each other. */
export const CPU_SATURATED = 0.9;

/** Every rule, with the sizing's numbers as thresholds: a sizing change moves them. */
export function ruleGroups(s: Sizing): RuleGroup[] {
  for (const slo of SLOS) {
    if ('thresholdSeconds' in slo && !(HTTP_DURATION_BUCKETS as readonly number[]).includes(slo.thresholdSeconds)) {
      throw new Error(`SLO ${slo.name}: ${slo.thresholdSeconds} s is not a bucket of ${METRICS.httpDuration.name}`);
    }
  }
  return [
    // One group per SLO: a group's rules run in order at each evaluation, so its alerts always read
    // the recordings just made (groups run concurrently: an alert in another group could read a
    // recording one evaluation old, or none once the interval exceeds the 5-minute lookback).
    ...SLOS.map((slo): RuleGroup => ({
      name: `boltlink-slo-${slo.name}`,
      rules: [
        ...SLO_WINDOWS.map((w) => ({ record: `${slo.record}${w}`, expr: slo.sli(w) })),
        ...(['page', 'ticket'] as const).map((severity) => burnRateAlert(slo, severity, s)),
      ],
    })),
    { name: 'boltlink-workers', rules: [...memoryAlerts(s), ...workerAlerts(s)] },
    { name: 'boltlink-dependencies', rules: dependencyAlerts(s) },
  ];
}

/** An SLO's fast (page) or slow (ticket) burn: any of its severity's window pairs burning at its factor. */
function burnRateAlert(slo: Slo, severity: 'page' | 'ticket', s: Sizing): AlertingRule {
  const budget = errorBudget(slo);
  const pairs = BURN_RATES.filter((b) => b.severity === severity);
  return {
    alert: `${slo.alert}${severity === 'page' ? 'Fast' : 'Slow'}`,
    expr: pairs
      .map(
        (b) =>
          `(${slo.record}${b.long} > ${b.factor} * ${budget} and ${slo.record}${b.short} > ${b.factor} * ${budget})`,
      )
      .join(' or '),
    labels: { severity },
    annotations: {
      summary: `${slo.what}: the ${slo.objective * 100} % objective's error budget burns ${pairs.map((b) => `${b.factor}x`).join(' or ')} too fast`,
      description:
        `The share of ${slo.what} is above ${pairs.map((b) => `${b.factor} × ${budget} over ${b.long} and ${b.short}`).join(', or ')} ` +
        `(${pairs.map((b) => b.budgetSpent).join('; ')}). Current ${slo.record}1h: {{ $value | humanizePercentage }}.`,
      runbook: slo.runbook(s),
    },
  };
}

/** Each worker's memory against PM2's restart threshold and V8's heap limit. */
function memoryAlerts(s: Sizing): AlertingRule[] {
  const restartBytes = s.maxMemoryRestartMiB * BYTES_PER_MIB;
  const heapBytes = s.heapMiBPerWorker * BYTES_PER_MIB;
  return [
    {
      alert: 'BoltLinkWorkerMemoryNearRestart',
      expr: `${queries.workerResidentMemory()} > ${NEAR_LIMIT} * ${restartBytes}`,
      for: '5m',
      labels: { severity: 'warning' },
      annotations: {
        summary: `worker {{ $labels.worker }} of {{ $labels.pod }} is near PM2's max_memory_restart (${s.maxMemoryRestartMiB} MiB)`,
        description: `Resident memory {{ $value | humanize1024 }}B is above ${NEAR_LIMIT * 100} % of ${s.maxMemoryRestartMiB} MiB, where PM2 restarts the worker (its requests in flight fail). Sizing: ${s.memoryMiBPerWorker} MiB per worker (common/sizing.ts).`,
        runbook: `${exec} npx pm2 status (restarts column); the dashboard's "Worker memory" over days: a steady climb is a leak (reproduce it locally under make bench with node --inspect), a step after a deploy is the release's footprint: raise memoryMiBPerWorker in common/sizing.ts, make synth, apply.`,
      },
    },
    {
      alert: 'BoltLinkWorkerHeapNearLimit',
      expr: `${queries.workerHeapUsed()} > ${NEAR_LIMIT} * ${heapBytes}`,
      for: '5m',
      labels: { severity: 'warning' },
      annotations: {
        summary: `worker {{ $labels.worker }} of {{ $labels.pod }} is near its V8 heap limit (${s.heapMiBPerWorker} MiB)`,
        description: `Heap in use {{ $value | humanize1024 }}B is above ${NEAR_LIMIT * 100} % of --max-old-space-size=${s.heapMiBPerWorker}: the worker spends its time in garbage collection, then dies with "heap out of memory".`,
        runbook: `The dashboard's "Worker heap": compare with ${METRICS.localCacheEntries.name} (the worker cache holds at most LOCAL_CACHE_MAX_MIB); ${logs} | grep -i 'heap'. Raise memoryMiBPerWorker (or heapFraction) in common/sizing.ts.`,
      },
    },
  ];
}

/** The pod's workers: restarts, readiness, the scrape, CPU. */
function workerAlerts(s: Sizing): AlertingRule[] {
  const W = s.pm2Instances;
  return [
    {
      alert: 'BoltLinkWorkerRestartLoop',
      expr: `${queries.workerRestarts(RESTART_WINDOW)} > ${RESTARTS_PER_WORKER * W}`,
      labels: { severity: 'warning' },
      annotations: {
        summary: `{{ $labels.pod }}: {{ $value }} worker starts in ${RESTART_WINDOW}`,
        description: `More than ${RESTARTS_PER_WORKER} starts per worker (${W} workers) in ${RESTART_WINDOW}. PM2 restarts crashed workers inside the pod, so kubectl's RESTARTS column stays 0.`,
        runbook: `${exec} npx pm2 status (restart counts), ${exec} npx pm2 logs --lines 100 --nostream (the crash), ${logs} | grep -E '"level":(50|60)'. Memory restarts show BoltLinkWorkerMemoryNearRestart first.`,
      },
    },
    {
      alert: 'BoltLinkPodUnready',
      expr: `${queries.readyWorkers()} < ${W}`,
      for: '5m',
      labels: { severity: 'warning' },
      annotations: {
        summary: `{{ $labels.pod }}: {{ $value }} of ${W} workers ready`,
        description: `Workers answer /ready 503 while starting (a database schema behind the release keeps them there), draining, or after a failed start; the kubelet takes the pod out of the Service.`,
        runbook: `kubectl describe pod {{ $labels.pod }} (probe events), ${logs} | grep -E 'db:migrate|schema|unready'. A schema behind the image: run the migration (npm run db:migrate in the release job).`,
      },
    },
    {
      alert: 'BoltLinkMetricsDown',
      expr: `${queries.scrapeUp()} == 0`,
      for: '5m',
      labels: { severity: 'warning' },
      annotations: {
        summary: `{{ $labels.pod }}: /metrics unreachable`,
        description:
          'Prometheus cannot scrape the pod: it is down or wedged, or a NetworkPolicy blocks the metrics port; every other alert of this pod is blind.',
        runbook: `kubectl get pod {{ $labels.pod }} -o wide; kubectl get networkpolicy; the metrics port is 'metrics' on the pod (not on the Service).`,
      },
    },
    {
      alert: 'BoltLinkCpuSaturated',
      expr: `${queries.cpuSaturation('5m', W)} > ${CPU_SATURATED}`,
      for: '15m',
      labels: { severity: 'warning' },
      annotations: {
        summary: `{{ $labels.pod }}: workers busy {{ $value | humanizePercentage }} of the time`,
        description: `CPU used over the ${W} baked PM2 workers (one core each at most) is above ${CPU_SATURATED * 100} %: requests queue in the event loops and latency grows. The HPA targets ${s.hpaCpuUtilizationPercent} % of the request.`,
        runbook: `kubectl get hpa ${DEPLOYMENT_NAME} (at maxReplicas ${s.maxReplicas}? raise it in common/sizing.ts); kubectl top pods; a pod hotter than its peers: long-lived connections pinned to it.`,
      },
    },
  ];
}

/** PostgreSQL's pool, Redis, the workers' answers to the metrics aggregation. */
function dependencyAlerts(s: Sizing): AlertingRule[] {
  const W = s.pm2Instances;
  return [
    {
      alert: 'BoltLinkDbPoolWaiting',
      expr: `${queries.dbPoolWaiting()} > 0`,
      for: '5m',
      labels: { severity: 'warning' },
      annotations: {
        summary: `{{ $labels.pod }}: queries wait for one of its ${s.dbPoolPerPod} database connections`,
        description: `Every connection of the pod's pools (${s.dbPoolPerWorker} per worker × ${W}) is busy and queries queue: PostgreSQL is slow, or the pool is too small for the traffic. Sized so ${s.peakPods} pods fit in ${s.dbConnectionBudget} connections.`,
        runbook: `The dashboard's "Database pool" and "Cache lookups" (a cold cache sends redirects to PostgreSQL); in psql: select state, wait_event, query from pg_stat_activity where datname = current_database(); slow queries: pg_stat_statements.`,
      },
    },
    {
      alert: 'BoltLinkRedisDisconnected',
      expr: `${queries.redisConnectedWorkers()} < ${W}`,
      for: '2m',
      labels: { severity: 'warning' },
      annotations: {
        summary: `{{ $labels.pod }}: {{ $value }} of ${W} workers connected to Redis`,
        description:
          'Redirects still work from the worker caches and PostgreSQL, but the rate limiter fails open, the invalidations between workers stop (a deleted link stays served until LOCAL_CACHE_TTL_MS) and PostgreSQL takes every miss.',
        runbook: `redis-cli -u $REDIS_URL ping from a debug pod in the namespace; ${logs} | grep -i redis; kubectl get networkpolicy (egress to the Redis port).`,
      },
    },
    {
      alert: 'BoltLinkMetricsAggregationMisses',
      expr: `${queries.aggregationMisses('10m')} > 0`,
      labels: { severity: 'warning' },
      annotations: {
        summary: `{{ $labels.pod }}: workers missing from /metrics`,
        description:
          "Workers did not answer the pod's /metrics aggregation in time: its counters dipped (rate() reads a reset) and per-worker series are missing. A worker with a blocked event loop does this first.",
        runbook: `${exec} npx pm2 status; BoltLinkCpuSaturated and BoltLinkWorkerRestartLoop for the cause.`,
      },
    },
  ];
}

/** The alerting rules of `groups`, in order. */
export const alertsOf = (groups: readonly RuleGroup[]) =>
  groups.flatMap((g) => g.rules.filter((r): r is AlertingRule => 'alert' in r));
