import {
  deriveSizing,
  ENVIRONMENTS,
  SIZINGS,
  SizingError,
  sizingFor,
  type Sizing,
  type SizingDeclaration,
} from '../sizing';

/** Every invariant a derived sizing must satisfy; returns the ones that fail. */
function brokenInvariants(s: Sizing): string[] {
  const broken: string[] = [];
  const must = (ok: boolean, what: string) => ok || broken.push(what);
  must(s.pm2Instances === s.workersPerPod, 'instances = workers');
  must(Number.isInteger(s.pm2Instances) && s.pm2Instances >= 1, 'instances >= 1');
  must(s.cpuRequestMilli === s.workersPerPod * s.cpuRequestMilliPerWorker, 'cpu request = workers x per-worker');
  must(s.cpuLimitMilli === s.workersPerPod * s.cpuLimitMilliPerWorker, 'cpu limit = workers x per-worker');
  must(s.cpuLimitMilli >= s.workersPerPod * 1000, 'a whole core per worker');
  must(s.cpuRequestMilli <= s.cpuLimitMilli, 'cpu request <= limit');
  must(s.heapMiBPerWorker < s.maxMemoryRestartMiB, 'heap < max_memory_restart');
  must(
    s.initialOldSpaceMiBPerWorker > s.localCacheMiBPerWorker && s.initialOldSpaceMiBPerWorker < s.heapMiBPerWorker,
    'the first full GC waits past the worker cache and comes before the heap limit',
  );
  must(s.maxMemoryRestartMiB < s.memoryMiBPerWorker, 'max_memory_restart < per-worker memory');
  must(s.workersPerPod * s.heapMiBPerWorker + s.pm2DaemonMiB <= s.memoryLimitMiB, 'heap x workers fits the limit');
  must(
    s.workersPerPod * s.maxMemoryRestartMiB + s.pm2DaemonMiB <= s.memoryLimitMiB,
    'restart threshold x workers fits',
  );
  must(s.memoryRequestMiB <= s.memoryLimitMiB, 'memory request <= limit');
  must(s.localCacheMiBPerWorker * 4 <= s.heapMiBPerWorker, 'local cache within a quarter of the heap');
  must(s.shutdownTimeoutMs > s.drainMs && s.shutdownTimeoutMs < s.killTimeoutMs, 'drain < own deadline < kill_timeout');
  must(
    s.terminationGracePeriodSeconds * 1000 >= s.preStopDelaySeconds * 1000 + s.killTimeoutMs,
    'grace >= preStop + kill_timeout',
  );
  must(s.dbPoolPerWorker >= 1, 'pool >= 1');
  must(
    s.startupProbe.periodSeconds * (s.startupProbe.failureThreshold - 1) >=
      s.migrationBudgetSeconds + s.startupTimeoutMs / 1000,
    'the startup probe waits out the migration budget and the start-up',
  );
  must(
    s.progressDeadlineSeconds > s.migrationBudgetSeconds + s.startupTimeoutMs / 1000 + s.minReadySeconds,
    'the rollout may take the migration, the start-up and minReadySeconds before it counts as stalled',
  );
  must(
    s.dbPoolPerWorker * s.workersPerPod * (s.maxReplicas + s.maxSurgePods) <=
      s.dbMaxConnections - s.dbReservedConnections,
    'pool x workers x (maxReplicas + surge) <= budget',
  );
  must(
    s.dbConnectionsAtPeak === s.dbPoolPerWorker * s.workersPerPod * (s.maxReplicas + s.maxSurgePods),
    'peak connections',
  );
  must(s.dbPoolPerPod === s.dbPoolPerWorker * s.workersPerPod, 'pool per pod = pool x workers');
  must(s.peakPods === s.maxReplicas + s.maxSurgePods, 'peak pods = maxReplicas + surge');
  must(s.dbConnectionBudget === s.dbMaxConnections - s.dbReservedConnections, 'budget = max - reserved');
  must(s.minReplicas >= 1 && s.minReplicas <= s.maxReplicas, '1 <= min <= max replicas');
  must(
    s.startupProbe.periodSeconds * s.startupProbe.failureThreshold * 1000 >= s.startupTimeoutMs,
    'startup probe covers listen_timeout',
  );
  for (const p of [s.startupProbe, s.readinessProbe, s.livenessProbe]) {
    must(p.timeoutSeconds * 1000 > s.healthTimeoutMs, 'probe timeout above the health check deadline');
    must(p.timeoutSeconds <= p.periodSeconds, 'probe timeout <= period');
  }
  return broken;
}

describe('the declared environments', () => {
  it.each(ENVIRONMENTS)('%s derives a sizing that satisfies every invariant', (env) => {
    const s = sizingFor(env);
    expect(brokenInvariants(s)).toEqual([]);
    expect(Object.isFrozen(s)).toBe(true);
  });

  it('derives the prod numbers the manifests and image use', () => {
    // Literal numbers, worked out by hand from the prod declaration (4 workers × 512 MiB, heap 0.6,
    // 400 connections − 20 reserved over (12 replicas + 2 surge) × 4 workers): a changed formula fails here.
    expect(sizingFor('prod')).toMatchObject({
      pm2Instances: 4,
      heapMiBPerWorker: 307,
      initialOldSpaceMiBPerWorker: 153,
      migrationBudgetSeconds: 600,
      progressDeadlineSeconds: 695,
      minReadySeconds: 5,
      maxMemoryRestartMiB: 460,
      memoryLimitMiB: 2176,
      memoryRequestMiB: 2176,
      cpuLimitMilli: 4000,
      shutdownTimeoutMs: 9000,
      terminationGracePeriodSeconds: 25,
      dbPoolPerWorker: 6,
      dbConnectionsAtPeak: 336,
    });
  });

  it('refuses an unknown environment, naming the known ones', () => {
    expect(() => sizingFor('qa')).toThrow(
      "invalid sizing for 'qa': unknown environment; known: local, bench, staging, cluster-test, prod",
    );
    expect(() => sizingFor('__proto__')).toThrow(SizingError);
  });
});

/** A problem starts with the field it is about. */
const FIELD_FIRST = /^(?:[a-zA-Z]+ \(|dbPoolPerWorker is|memoryMiBPerWorker \(|heap \(|workersPerPod \()/;

describe('deriveSizing over a grid of sizings', () => {
  it('either satisfies every invariant or throws a SizingError naming fields', () => {
    const base: SizingDeclaration = SIZINGS.prod;
    let derived = 0;
    let refused = 0;
    const failures: string[] = [];
    for (let workersPerPod = 1; workersPerPod <= 16; workersPerPod++)
      for (const memoryMiBPerWorker of [96, 128, 256, 384, 512, 1024, 2048])
        for (const heapFraction of [0.1, 0.3, 0.6, 0.85, 0.9, 0.95])
          for (const [minReplicas, maxReplicas] of [
            [1, 1],
            [2, 4],
            [3, 12],
            [10, 50],
            [4, 2],
          ])
            for (const maxSurgePods of [0, 1, 3])
              for (const dbMaxConnections of [20, 100, 400])
                for (const cpuLimitMilliPerWorker of [500, 1000, 2000]) {
                  const d = {
                    ...base,
                    workersPerPod,
                    memoryMiBPerWorker,
                    heapFraction,
                    minReplicas: minReplicas!,
                    maxReplicas: maxReplicas!,
                    maxSurgePods,
                    dbMaxConnections,
                    cpuLimitMilliPerWorker,
                  };
                  let s: Sizing;
                  try {
                    s = deriveSizing(d, 'grid');
                  } catch (err) {
                    const named =
                      err instanceof SizingError &&
                      err.problems.length > 0 &&
                      err.problems.every((p) => FIELD_FIRST.test(p));
                    if (!named) failures.push(`${JSON.stringify(d)} threw ${String(err)}`);
                    refused++;
                    continue;
                  }
                  const broken = brokenInvariants(s);
                  if (broken.length > 0) failures.push(`${JSON.stringify(d)} broke ${broken.join(', ')}`);
                  derived++;
                }
    expect(failures.slice(0, 5)).toEqual([]);
    // The grid must exercise both outcomes, or the test proves nothing.
    expect(derived).toBeGreaterThan(1000);
    expect(refused).toBeGreaterThan(1000);
  });
});

describe('invalid sizings', () => {
  const prod: SizingDeclaration = SIZINGS.prod;
  const problems = (d: Partial<SizingDeclaration>) => {
    try {
      deriveSizing({ ...prod, ...d }, 'bad');
    } catch (err) {
      return (err as SizingError).problems;
    }
    return [];
  };

  it('names 0 workers with its value', () => {
    expect(problems({ workersPerPod: 0 })).toEqual(['workersPerPod (0) must be a whole number from 1 to 64']);
  });

  it('names a heap that would not fit under the memory-restart threshold', () => {
    expect(problems({ heapFraction: 0.95 })[0]).toBe(
      'heapFraction (0.95) must be above 0 and below 0.9 (the memory-restart threshold)',
    );
  });

  it('names memory too small for a heap', () => {
    expect(problems({ memoryMiBPerWorker: 100 })).toEqual([
      'memoryMiBPerWorker (100) must be a whole number of MiB, at least 128',
    ]);
    expect(problems({ memoryMiBPerWorker: 128, heapFraction: 0.3 })[0]).toMatch(/gives a 38 MiB heap, below 64 MiB/);
  });

  it('names a database budget that cannot give every worker a connection', () => {
    expect(problems({ dbMaxConnections: 60, dbReservedConnections: 20, maxReplicas: 12 })[0]).toMatch(
      /^dbPoolPerWorker is 0: dbMaxConnections \(60\) - dbReservedConnections \(20\)/,
    );
  });

  it('names a kill timeout too short for the drain, and reports every bad field at once', () => {
    const p = problems({ killTimeoutMs: 1500, workersPerPod: 0, maxSurgePods: 0 });
    expect(p).toHaveLength(3);
    expect(p.join('; ')).toMatch(/workersPerPod \(0\).*maxSurgePods \(0\).*killTimeoutMs \(1500\)/);
  });

  it('names CPU limits below a core per worker', () => {
    expect(problems({ cpuLimitMilliPerWorker: 500 })).toContain(
      'cpuLimitMilliPerWorker (500) must be at least 1000 (one core per worker)',
    );
  });
});
