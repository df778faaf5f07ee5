import { Redis } from 'ioredis';
import { ENVIRONMENTS, sizingFor } from '../sizing';
import { METRICS } from '../metrics';
import { createDatabase } from '../../service/src/db/client';
import { createMetrics } from '../../service/src/metrics/registry';
import { ruleGroups } from '../../infra/monitoring/alerts';
import { everyExpression, metricNames } from '../../test-support/promql';

/**
 * The metric names are declared once (common/metrics.ts): the service's registry
 * defines each with its type, and every PromQL expression of the dashboard and
 * the rules (parsed by lezer-promql) selects only series the registry defines.
 * The registry is the service's own, built in-process; its database and Redis
 * clients are real but never connect (nothing here queries them).
 */

/** Series names of a metric as it appears in an exposition: a histogram's _bucket, _count and _sum. */
const seriesOf = (name: string, type: string) =>
  type === 'histogram' ? ['_bucket', '_count', '_sum'].map((suffix) => name + suffix) : [name];

describe('metric names: registry and PromQL agree', () => {
  const db = createDatabase({
    DATABASE_URL: 'postgresql://nobody@127.0.0.1:1/none',
    DB_POOL_SIZE: 1,
    DB_CONNECT_TIMEOUT_MS: 100,
    DB_STATEMENT_TIMEOUT_MS: 100,
  });
  const redis = new Redis({ lazyConnect: true });
  const metrics = createMetrics({
    db,
    redis,
    sizing: { status: 'ok', workers: 1, heapMiBPerWorker: 64, cpuQuota: null, memoryLimitMiB: null },
    workerIndex: 0,
    localEntries: () => 0,
    ready: () => true,
  });
  afterAll(async () => {
    redis.disconnect();
    await db.close();
  });

  const registered = async () =>
    (await metrics.registry.getMetricsAsJSON()).map((m) => ({ name: m.name, type: String(m.type) }));

  /** Names the expressions select that the registry does not define (Prometheus' `up` and our recordings aside). */
  const undefinedNames = async (exprs: readonly string[]) => {
    const defined = new Set((await registered()).flatMap((m) => seriesOf(m.name, m.type)));
    const recorded = ENVIRONMENTS.flatMap((e) => ruleGroups(sizingFor(e)).flatMap((g) => g.rules))
      .filter((r) => 'record' in r)
      .map((r) => ('record' in r ? r.record : ''));
    const outside = new Set(['up', ...recorded]);
    return [...new Set(exprs.flatMap(metricNames))].filter((n) => !defined.has(n) && !outside.has(n));
  };

  it('the registry defines every declared metric with its declared type', async () => {
    const byName = new Map((await registered()).map((m) => [m.name, m.type]));
    const declared = Object.values(METRICS).map((m) => ({ name: m.name, type: m.type }));
    expect(declared.map((m) => ({ name: m.name, type: byName.get(m.name) }))).toEqual(declared);
  });

  it.each(ENVIRONMENTS)('every metric the %s dashboard and rules select is one the registry defines', async (env) => {
    const exprs = everyExpression(sizingFor(env), '5m').map((e) => e.expr);
    expect(exprs.length).toBeGreaterThan(40);
    expect(await undefinedNames(exprs)).toEqual([]);
  });

  it('a query naming a metric the registry does not define fails the check', async () => {
    expect(
      await undefinedNames([
        'sum(rate(boltlink_redirect_total[5m]))',
        `sum(rate(${METRICS.httpDuration.name}[5m]))`,
        `${METRICS.redirects.name} > 0`,
      ]),
    ).toEqual(['boltlink_redirect_total', METRICS.httpDuration.name]);
  });
});
