import { AggregatorRegistry, Counter, Histogram, Registry } from 'prom-client';
import { BoundHistogram } from '../../src/metrics/histogram';
import { HTTP_DURATION_BUCKETS } from '../../../common/metrics';
import { Tallies } from '../../src/metrics/tally';

const labelNames = ['method', 'route', 'status'] as const;
type Observation = readonly [method: string, route: string, status: string, seconds: number];
/** Observations across label sets and every bucket: on a bound, between, above the last. */
const observations: readonly Observation[] = [
  ...HTTP_DURATION_BUCKETS.flatMap((b, i): Observation[] => [
    ['GET', '/:slug', '302', b],
    ['GET', '/:slug', '302', b * 0.7],
    ['POST', '/api/links', String(200 + i), b * 1.3],
  ]),
  ['HEAD', '/:slug', '302', 9.5],
  ['GET', 'unmatched', '404', 0],
];

function both() {
  const [ours, theirs] = [new Registry(), new Registry()];
  const bound = new BoundHistogram('h_seconds', 'help', labelNames, HTTP_DURATION_BUCKETS, ours);
  const reference = new Histogram({
    name: 'h_seconds',
    help: 'help',
    labelNames,
    buckets: [...HTTP_DURATION_BUCKETS],
    registers: [theirs],
  });
  for (const [m, r, s, v] of observations) {
    bound.labels(m, r, s).observe(v);
    reference.labels(m, r, s).observe(v);
  }
  return { ours, theirs, bound };
}

describe('BoundHistogram', () => {
  it("exports what prom-client's Histogram exports for the same observations, as text and as JSON", async () => {
    const { ours, theirs } = both();
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(await ours.getMetricsAsJSON()).toEqual(await theirs.getMetricsAsJSON());
  });

  it("merges across workers as prom-client's does (the pod's /metrics)", async () => {
    const [a, b] = [both(), both()];
    const ours = AggregatorRegistry.aggregate([await a.ours.getMetricsAsJSON(), await b.ours.getMetricsAsJSON()]);
    const theirs = AggregatorRegistry.aggregate([await a.theirs.getMetricsAsJSON(), await b.theirs.getMetricsAsJSON()]);
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it('binds a label set once: the same observer for the same values', () => {
    const { bound } = both();
    expect(bound.labels('GET', '/:slug', '302')).toBe(bound.labels('GET', '/:slug', '302'));
    expect(bound.labels('GET', '/:slug', '302')).not.toBe(bound.labels('HEAD', '/:slug', '302'));
  });
});

describe('Tallies', () => {
  it('hands a scrape every increment made before it, once', async () => {
    const registry = new Registry();
    const tallies = new Tallies(['tier', 'result'] as const);
    new Counter({
      name: 'lookups_total',
      help: 'help',
      labelNames: ['tier', 'result'] as const,
      registers: [registry],
      collect() {
        tallies.collect(this);
      },
    });
    const hit = tallies.labels('local', 'hit');
    for (let i = 0; i < 5; i++) hit.inc();
    tallies.labels('redis', 'miss').inc();
    const scrape = async () => (await registry.getSingleMetric('lookups_total')!.get()).values;
    expect(await scrape()).toEqual([
      { value: 5, labels: { tier: 'local', result: 'hit' } },
      { value: 1, labels: { tier: 'redis', result: 'miss' } },
    ]);
    hit.inc();
    expect((await scrape())[0]).toEqual({ value: 6, labels: { tier: 'local', result: 'hit' } });
    expect(tallies.labels('local', 'hit')).toBe(hit);
  });
});
