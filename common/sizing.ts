import { MIGRATION_BUDGET_RANGE_SECONDS } from './contract';

/**
 * THE sizing declaration. Each environment declares a handful of numbers;
 * pure functions below derive everything else: the PM2 worker count baked
 * into the image, each worker's heap and memory-restart threshold, the pod's
 * CPU and memory, the grace period, the database pool per worker, HPA bounds
 * and probe timings. The ecosystem file, the Makefile/Dockerfile build args
 * and the cdk8s chart all read this module, so code and cluster sizing cannot
 * disagree. No dependencies: the runtime image loads the compiled file.
 */

/** What an environment declares. Units are in the names. */
export interface SizingDeclaration {
  /** PM2 workers per pod; one per whole CPU core of the pod. */
  readonly workersPerPod: number;
  /** CPU request per worker, millicores (the pod requests workers × this). */
  readonly cpuRequestMilliPerWorker: number;
  /** CPU limit per worker, millicores; at least 1000 so a worker is never throttled below a core. */
  readonly cpuLimitMilliPerWorker: number;
  /** Memory per worker, MiB: heap plus Node's off-heap memory (buffers, code, stacks). */
  readonly memoryMiBPerWorker: number;
  /** Memory of the PM2 daemon (pm2-runtime) itself, MiB, added once per pod. */
  readonly pm2DaemonMiB: number;
  /** Share of the per-worker memory given to V8's old space (--max-old-space-size). */
  readonly heapFraction: number;
  /** Heap each worker's local link cache may take, MiB (LOCAL_CACHE_MAX_MIB); at most a quarter of the heap. */
  readonly localCacheMiBPerWorker: number;
  readonly minReplicas: number;
  readonly maxReplicas: number;
  /** HPA target: average CPU utilization of requests, percent. */
  readonly hpaCpuUtilizationPercent: number;
  /** How long the HPA waits before scaling down, seconds. */
  readonly scaleDownStabilizationSeconds: number;
  /** Extra pods during a rolling update (maxUnavailable is always 0). */
  readonly maxSurgePods: number;
  /** PostgreSQL max_connections the service may share. */
  readonly dbMaxConnections: number;
  /** Connections kept back for migrations, admins and monitoring. */
  readonly dbReservedConnections: number;
  /** PM2 kill_timeout: how long a worker may drain after SIGINT before SIGKILL, ms. */
  readonly killTimeoutMs: number;
  /** How long a draining worker keeps answering (with Connection: close) before it stops accepting, ms. */
  readonly drainMs: number;
  /**
   * preStop sleep, so every client of the endpoints (kube-proxy on each node, the ingress
   * controller) stops sending the pod new requests before it drains, seconds. make cluster-test
   * measures Traefik's lag behind the EndpointSlice and fails if it reaches this (docs/operations.md,
   * "What the preStop delay covers").
   */
  readonly preStopDelaySeconds: number;
  /** Longest a worker may take to start, connect and report ready, ms (PM2 listen_timeout, startup probe). */
  readonly startupTimeoutMs: number;
  /**
   * Longest a release's migrations may take, seconds: the pod that applies them
   * runs them before it starts serving, and the startup probe, the migrator's
   * own deadline and the rollout's progress deadline all allow for it.
   */
  readonly migrationBudgetSeconds: number;
  /** Deadline for one dependency check in /health and /ready, ms. */
  readonly healthTimeoutMs: number;
  /** Size of the emptyDir holding PM2_HOME and /tmp, MiB. */
  readonly scratchMiB: number;
}

/** `npm run start:cluster` and the PM2 tests, on a 2-core machine. */
const LOCAL = {
  workersPerPod: 2,
  cpuRequestMilliPerWorker: 1000,
  cpuLimitMilliPerWorker: 1000,
  memoryMiBPerWorker: 384,
  pm2DaemonMiB: 96,
  heapFraction: 0.6,
  localCacheMiBPerWorker: 16,
  minReplicas: 1,
  maxReplicas: 1,
  hpaCpuUtilizationPercent: 70,
  scaleDownStabilizationSeconds: 60,
  maxSurgePods: 1,
  dbMaxConnections: 100,
  dbReservedConnections: 10,
  killTimeoutMs: 5000,
  drainMs: 1000,
  preStopDelaySeconds: 0,
  startupTimeoutMs: 15000,
  migrationBudgetSeconds: 120,
  healthTimeoutMs: 800,
  scratchMiB: 64,
} as const satisfies SizingDeclaration;

/** The environments. */
export const SIZINGS = {
  local: LOCAL,
  // One worker on one core: what `make bench` measures per worker.
  bench: { ...LOCAL, workersPerPod: 1, memoryMiBPerWorker: 512 },
  staging: {
    workersPerPod: 2,
    cpuRequestMilliPerWorker: 1000,
    cpuLimitMilliPerWorker: 1000,
    memoryMiBPerWorker: 512,
    pm2DaemonMiB: 96,
    heapFraction: 0.6,
    localCacheMiBPerWorker: 16,
    minReplicas: 2,
    maxReplicas: 4,
    hpaCpuUtilizationPercent: 70,
    scaleDownStabilizationSeconds: 300,
    maxSurgePods: 1,
    dbMaxConnections: 100,
    dbReservedConnections: 10,
    killTimeoutMs: 8000,
    drainMs: 1000,
    preStopDelaySeconds: 5,
    startupTimeoutMs: 20000,
    migrationBudgetSeconds: 300,
    healthTimeoutMs: 800,
    scratchMiB: 64,
  },
  // The single-node cluster of make cluster-test (2 CPUs): two PM2 workers per pod, and two
  // pods fit at once (1 replica + 1 surge pod during a rollout, or 2 replicas after an HPA
  // scale-out): each requests half a core per worker and may burst to a whole core.
  'cluster-test': {
    workersPerPod: 2,
    cpuRequestMilliPerWorker: 500,
    cpuLimitMilliPerWorker: 1000,
    memoryMiBPerWorker: 384,
    pm2DaemonMiB: 96,
    heapFraction: 0.6,
    localCacheMiBPerWorker: 16,
    minReplicas: 1,
    maxReplicas: 2,
    hpaCpuUtilizationPercent: 50,
    // Test-shortened, so the suite can watch the HPA scale back in.
    scaleDownStabilizationSeconds: 30,
    maxSurgePods: 1,
    dbMaxConnections: 100,
    dbReservedConnections: 10,
    killTimeoutMs: 5000,
    drainMs: 1000,
    // kube-proxy reprograms iptables about a second after an endpoint goes, Traefik within 0.5 s (make
    // cluster-test measures it); 3 s covers both on a busy node.
    preStopDelaySeconds: 3,
    startupTimeoutMs: 30000,
    // The expand migration the suite rolls out (a backfill and an index on a million links) takes a minute or two here.
    migrationBudgetSeconds: 300,
    healthTimeoutMs: 800,
    scratchMiB: 64,
  },
  prod: {
    workersPerPod: 4,
    cpuRequestMilliPerWorker: 1000,
    cpuLimitMilliPerWorker: 1000,
    memoryMiBPerWorker: 512,
    pm2DaemonMiB: 128,
    heapFraction: 0.6,
    localCacheMiBPerWorker: 32,
    minReplicas: 3,
    maxReplicas: 12,
    hpaCpuUtilizationPercent: 65,
    scaleDownStabilizationSeconds: 300,
    maxSurgePods: 2,
    dbMaxConnections: 400,
    dbReservedConnections: 20,
    killTimeoutMs: 10000,
    drainMs: 2000,
    // Far above the lag measured on one node (Traefik within 0.5 s): a large cluster's API server and
    // controllers under churn, several controller replicas, a cloud load balancer's health checks.
    preStopDelaySeconds: 10,
    startupTimeoutMs: 30000,
    migrationBudgetSeconds: 600,
    healthTimeoutMs: 800,
    scratchMiB: 128,
  },
} as const satisfies Record<string, SizingDeclaration>;

export type EnvironmentName = keyof typeof SIZINGS;
export const ENVIRONMENTS = Object.keys(SIZINGS) as EnvironmentName[];

/** Everything derived from a declaration; what consumers read. */
export interface Sizing extends SizingDeclaration {
  /** PM2 `instances`, baked into the image as PM2_INSTANCES. */
  readonly pm2Instances: number;
  /** node --max-old-space-size per worker, MiB. */
  readonly heapMiBPerWorker: number;
  /** node --initial-old-space-size per worker, MiB: the old generation a worker may fill before its first full GC. */
  readonly initialOldSpaceMiBPerWorker: number;
  /** PM2 max_memory_restart per worker, MiB. */
  readonly maxMemoryRestartMiB: number;
  readonly cpuRequestMilli: number;
  readonly cpuLimitMilli: number;
  readonly memoryRequestMiB: number;
  readonly memoryLimitMiB: number;
  /** The service's own deadline (SHUTDOWN_TIMEOUT_MS), inside PM2's kill_timeout. */
  readonly shutdownTimeoutMs: number;
  readonly terminationGracePeriodSeconds: number;
  /** pg pool size per worker (DB_POOL_SIZE). */
  readonly dbPoolPerWorker: number;
  /** Connections one pod's pools hold: pool × workers. */
  readonly dbPoolPerPod: number;
  /** Pods at max scale during a rollout: maxReplicas + maxSurgePods. */
  readonly peakPods: number;
  /** Connections the pods may take: dbMaxConnections − dbReservedConnections. */
  readonly dbConnectionBudget: number;
  /** Connections at max scale during a rollout: dbPoolPerPod × peakPods. */
  readonly dbConnectionsAtPeak: number;
  /**
   * The rollout's clock (Deployment progressDeadlineSeconds): a new pod may take
   * the migration budget, its start-up and minReadySeconds before the rollout
   * counts as stalled.
   */
  readonly progressDeadlineSeconds: number;
  /** How long a new pod must stay Ready before it counts as available (Deployment minReadySeconds). */
  readonly minReadySeconds: number;
  readonly startupProbe: ProbeTiming;
  readonly readinessProbe: ProbeTiming;
  readonly livenessProbe: ProbeTiming;
  readonly ephemeralStorageRequestMiB: number;
  readonly ephemeralStorageLimitMiB: number;
}

export interface ProbeTiming {
  readonly periodSeconds: number;
  readonly timeoutSeconds: number;
  readonly failureThreshold: number;
}

/** max_memory_restart sits between the heap and the worker's memory: PM2 recycles a leaking worker before the kernel OOM-kills the pod. */
export const MEMORY_RESTART_FRACTION = 0.9;
/** Time a worker keeps after its own deadline before PM2's SIGKILL, for closing pools and exiting, ms. */
export const SHUTDOWN_MARGIN_MS = 1000;
/** Seconds of grace beyond preStop + kill_timeout, for pm2-runtime itself to exit. */
export const GRACE_MARGIN_SECONDS = 5;
/** The smallest heap Node runs a web service in without thrashing, MiB. */
export const MIN_HEAP_MIB = 64;
/** The local link cache may take at most this share of a worker's heap: the rest is the service's own. */
export const LOCAL_CACHE_HEAP_SHARE = 0.25;
/**
 * The share of the heap a worker may fill before V8's first full garbage
 * collection (--initial-old-space-size). V8 otherwise sets that limit from the
 * live heap, a few tens of MiB here: a worker whose cache churns under a long
 * tail of links then ran a full mark-compact every second, each pausing the
 * event loop 8-20 ms (make bench: p99 of the long-tail redirect 20-40 ms at
 * the default, 11-16 ms with half the heap; docs/benchmarks.md).
 */
export const INITIAL_OLD_SPACE_SHARE = 0.5;
/** The rollout's progress deadline beyond the migration, the start-up and minReadySeconds, seconds: pulling the image, scheduling. */
export const PROGRESS_MARGIN_SECONDS = 60;
/** Container logs go to stdout; the kubelet's log files count against ephemeral storage too. */
export const LOG_BUDGET_MIB = 256;

/** A sizing that cannot work. `problems` lists every bad field with its value. */
export class SizingError extends Error {
  constructor(
    readonly environment: string,
    readonly problems: readonly string[],
  ) {
    super(`invalid sizing for '${environment}': ${problems.join('; ')}`);
    this.name = 'SizingError';
  }
}

/** Derives a full Sizing, or throws SizingError naming every field that breaks an invariant. */
export function deriveSizing(d: SizingDeclaration, environment = 'custom'): Sizing {
  const problems = checkDeclaration(d);
  if (problems.length > 0) throw new SizingError(environment, problems);

  const heapMiBPerWorker = Math.floor(d.memoryMiBPerWorker * d.heapFraction);
  const maxMemoryRestartMiB = Math.floor(d.memoryMiBPerWorker * MEMORY_RESTART_FRACTION);
  // Memory request = limit: a pod that may be OOM-killed under node pressure is a pod whose
  // in-flight requests fail; guaranteed memory makes the heap maths hold.
  const memoryMiB = d.workersPerPod * d.memoryMiBPerWorker + d.pm2DaemonMiB;
  const dbConnectionBudget = d.dbMaxConnections - d.dbReservedConnections;
  const peakPods = d.maxReplicas + d.maxSurgePods;
  const dbPoolPerWorker = Math.floor(dbConnectionBudget / (peakPods * d.workersPerPod));
  const dbPoolPerPod = dbPoolPerWorker * d.workersPerPod;
  const readinessPeriodSeconds = 5;
  const probeTimeoutSeconds = Math.ceil(d.healthTimeoutMs / 1000) + 1;
  const startupPeriodSeconds = 2;
  // One readiness period after turning Ready: a pod that fails its next probe never counts as available.
  const minReadySeconds = readinessPeriodSeconds;
  const startupSeconds = Math.ceil(d.startupTimeoutMs / 1000);

  const sizing: Sizing = {
    ...d,
    pm2Instances: d.workersPerPod,
    heapMiBPerWorker,
    initialOldSpaceMiBPerWorker: Math.floor(heapMiBPerWorker * INITIAL_OLD_SPACE_SHARE),
    maxMemoryRestartMiB,
    cpuRequestMilli: d.workersPerPod * d.cpuRequestMilliPerWorker,
    cpuLimitMilli: d.workersPerPod * d.cpuLimitMilliPerWorker,
    memoryRequestMiB: memoryMiB,
    memoryLimitMiB: memoryMiB,
    shutdownTimeoutMs: d.killTimeoutMs - SHUTDOWN_MARGIN_MS,
    terminationGracePeriodSeconds: d.preStopDelaySeconds + Math.ceil(d.killTimeoutMs / 1000) + GRACE_MARGIN_SECONDS,
    dbPoolPerWorker,
    dbPoolPerPod,
    peakPods,
    dbConnectionBudget,
    dbConnectionsAtPeak: dbPoolPerPod * peakPods,
    progressDeadlineSeconds: d.migrationBudgetSeconds + startupSeconds + minReadySeconds + PROGRESS_MARGIN_SECONDS,
    minReadySeconds,
    // The startup probe covers the migration budget and the whole PM2 listen_timeout: the pod that
    // applies a release's migrations runs them before pm2-runtime starts, and a slow start is not a liveness kill.
    startupProbe: {
      periodSeconds: startupPeriodSeconds,
      timeoutSeconds: probeTimeoutSeconds,
      failureThreshold: Math.ceil((d.migrationBudgetSeconds + startupSeconds) / startupPeriodSeconds) + 1,
    },
    // Two misses take a pod out of rotation within ~10 s of a database loss.
    readinessProbe: { periodSeconds: readinessPeriodSeconds, timeoutSeconds: probeTimeoutSeconds, failureThreshold: 2 },
    // Liveness only restarts a wedged event loop; three misses over 30 s avoids restarts on a GC pause.
    livenessProbe: { periodSeconds: 10, timeoutSeconds: probeTimeoutSeconds, failureThreshold: 3 },
    ephemeralStorageRequestMiB: d.scratchMiB,
    ephemeralStorageLimitMiB: d.scratchMiB + LOG_BUDGET_MIB,
  };
  const derivedProblems = checkDerived(sizing);
  if (derivedProblems.length > 0) throw new SizingError(environment, derivedProblems);
  return Object.freeze(sizing);
}

/** A worker's heap flags, as PM2 (ecosystem node_args) and make bench's plain-node case start it. */
export const nodeHeapArgs = (s: Pick<Sizing, 'heapMiBPerWorker' | 'initialOldSpaceMiBPerWorker'>): string[] => [
  `--max-old-space-size=${s.heapMiBPerWorker}`,
  `--initial-old-space-size=${s.initialOldSpaceMiBPerWorker}`,
];

/** The sizing of a named environment; throws naming the known ones for an unknown name. */
export function sizingFor(environment: string): Sizing {
  if (!Object.hasOwn(SIZINGS, environment)) {
    throw new SizingError(environment, [`unknown environment; known: ${ENVIRONMENTS.join(', ')}`]);
  }
  return deriveSizing(SIZINGS[environment as EnvironmentName], environment);
}

function checkDeclaration(d: SizingDeclaration): string[] {
  const p: string[] = [];
  const field = <K extends keyof SizingDeclaration>(k: K, ok: boolean, rule: string) => {
    if (!ok) p.push(`${k} (${String(d[k])}) ${rule}`);
  };
  const isInt = (n: number) => Number.isInteger(n);
  field(
    'workersPerPod',
    isInt(d.workersPerPod) && d.workersPerPod >= 1 && d.workersPerPod <= 64,
    'must be a whole number from 1 to 64',
  );
  field(
    'cpuRequestMilliPerWorker',
    isInt(d.cpuRequestMilliPerWorker) && d.cpuRequestMilliPerWorker >= 100,
    'must be a whole number of millicores, at least 100',
  );
  field(
    'cpuLimitMilliPerWorker',
    isInt(d.cpuLimitMilliPerWorker) && d.cpuLimitMilliPerWorker >= 1000,
    'must be at least 1000 (one core per worker)',
  );
  field(
    'cpuLimitMilliPerWorker',
    d.cpuLimitMilliPerWorker >= d.cpuRequestMilliPerWorker,
    `must be at least cpuRequestMilliPerWorker (${d.cpuRequestMilliPerWorker})`,
  );
  field(
    'memoryMiBPerWorker',
    isInt(d.memoryMiBPerWorker) && d.memoryMiBPerWorker >= 128,
    'must be a whole number of MiB, at least 128',
  );
  field('pm2DaemonMiB', isInt(d.pm2DaemonMiB) && d.pm2DaemonMiB >= 32, 'must be a whole number of MiB, at least 32');
  field(
    'localCacheMiBPerWorker',
    isInt(d.localCacheMiBPerWorker) && d.localCacheMiBPerWorker >= 1,
    'must be a whole number of MiB, at least 1',
  );
  field(
    'heapFraction',
    d.heapFraction > 0 && d.heapFraction < MEMORY_RESTART_FRACTION,
    `must be above 0 and below ${MEMORY_RESTART_FRACTION} (the memory-restart threshold)`,
  );
  field('minReplicas', isInt(d.minReplicas) && d.minReplicas >= 1, 'must be a whole number, at least 1');
  field(
    'maxReplicas',
    isInt(d.maxReplicas) && d.maxReplicas >= d.minReplicas,
    `must be a whole number, at least minReplicas (${d.minReplicas})`,
  );
  field(
    'hpaCpuUtilizationPercent',
    isInt(d.hpaCpuUtilizationPercent) && d.hpaCpuUtilizationPercent >= 10 && d.hpaCpuUtilizationPercent <= 95,
    'must be a whole percentage from 10 to 95',
  );
  field(
    'scaleDownStabilizationSeconds',
    isInt(d.scaleDownStabilizationSeconds) &&
      d.scaleDownStabilizationSeconds >= 0 &&
      d.scaleDownStabilizationSeconds <= 3600,
    'must be 0-3600 seconds',
  );
  field(
    'maxSurgePods',
    isInt(d.maxSurgePods) && d.maxSurgePods >= 1,
    'must be at least 1 (maxUnavailable is 0, so a rollout needs a surge pod)',
  );
  field('dbMaxConnections', isInt(d.dbMaxConnections) && d.dbMaxConnections >= 1, 'must be a whole number, at least 1');
  field(
    'dbReservedConnections',
    isInt(d.dbReservedConnections) && d.dbReservedConnections >= 0 && d.dbReservedConnections < d.dbMaxConnections,
    `must be 0 or more and below dbMaxConnections (${d.dbMaxConnections})`,
  );
  field('drainMs', isInt(d.drainMs) && d.drainMs >= 0, 'must be a whole number of ms, 0 or more');
  field(
    'killTimeoutMs',
    isInt(d.killTimeoutMs) && d.killTimeoutMs >= d.drainMs + SHUTDOWN_MARGIN_MS + 1000,
    `must leave at least 1 s to finish requests after the ${d.drainMs} ms drain and the ${SHUTDOWN_MARGIN_MS} ms exit margin`,
  );
  field(
    'preStopDelaySeconds',
    isInt(d.preStopDelaySeconds) && d.preStopDelaySeconds >= 0 && d.preStopDelaySeconds <= 120,
    'must be 0-120 seconds',
  );
  field('startupTimeoutMs', isInt(d.startupTimeoutMs) && d.startupTimeoutMs >= 1000, 'must be at least 1000 ms');
  field(
    'migrationBudgetSeconds',
    isInt(d.migrationBudgetSeconds) &&
      d.migrationBudgetSeconds >= MIGRATION_BUDGET_RANGE_SECONDS.min &&
      d.migrationBudgetSeconds <= MIGRATION_BUDGET_RANGE_SECONDS.max,
    `must be a whole number of seconds from ${MIGRATION_BUDGET_RANGE_SECONDS.min} to ${MIGRATION_BUDGET_RANGE_SECONDS.max}`,
  );
  field(
    'healthTimeoutMs',
    isInt(d.healthTimeoutMs) && d.healthTimeoutMs >= 50 && d.healthTimeoutMs < 5000,
    'must be 50-4999 ms',
  );
  field('scratchMiB', isInt(d.scratchMiB) && d.scratchMiB >= 16, 'must be at least 16 MiB');
  return p;
}

/** Invariants across derived values; they hold for every declaration checkDeclaration accepts, and are checked anyway. */
function checkDerived(s: Sizing): string[] {
  const p: string[] = [];
  if (s.heapMiBPerWorker < MIN_HEAP_MIB) {
    p.push(
      `memoryMiBPerWorker (${s.memoryMiBPerWorker}) × heapFraction (${s.heapFraction}) gives a ${s.heapMiBPerWorker} MiB heap, below ${MIN_HEAP_MIB} MiB`,
    );
  }
  if (!(s.heapMiBPerWorker < s.maxMemoryRestartMiB && s.maxMemoryRestartMiB < s.memoryMiBPerWorker)) {
    p.push(
      `heap (${s.heapMiBPerWorker} MiB) < max_memory_restart (${s.maxMemoryRestartMiB} MiB) < memoryMiBPerWorker (${s.memoryMiBPerWorker}) does not hold`,
    );
  }
  if (s.workersPerPod * s.maxMemoryRestartMiB + s.pm2DaemonMiB > s.memoryLimitMiB) {
    p.push(
      `workersPerPod (${s.workersPerPod}) × max_memory_restart (${s.maxMemoryRestartMiB} MiB) + pm2DaemonMiB exceeds the memory limit (${s.memoryLimitMiB} MiB)`,
    );
  }
  if (s.localCacheMiBPerWorker > s.heapMiBPerWorker * LOCAL_CACHE_HEAP_SHARE) {
    p.push(
      `localCacheMiBPerWorker (${s.localCacheMiBPerWorker}) is more than ${LOCAL_CACHE_HEAP_SHARE * 100} % of the ${s.heapMiBPerWorker} MiB heap`,
    );
  }
  if (s.workersPerPod * 1000 > s.cpuLimitMilli) {
    p.push(
      `workersPerPod (${s.workersPerPod}) exceeds the CPU limit (${s.cpuLimitMilli}m): workers would be throttled`,
    );
  }
  if (s.dbPoolPerWorker < 1) {
    p.push(
      `dbPoolPerWorker is ${s.dbPoolPerWorker}: dbMaxConnections (${s.dbMaxConnections}) - dbReservedConnections (${s.dbReservedConnections}) cannot give every worker of (maxReplicas ${s.maxReplicas} + maxSurgePods ${s.maxSurgePods}) pods × ${s.workersPerPod} workers a connection`,
    );
  }
  if (s.terminationGracePeriodSeconds * 1000 < s.preStopDelaySeconds * 1000 + s.killTimeoutMs) {
    p.push(
      `terminationGracePeriodSeconds (${s.terminationGracePeriodSeconds}) is shorter than preStopDelaySeconds + killTimeoutMs`,
    );
  }
  return p;
}
