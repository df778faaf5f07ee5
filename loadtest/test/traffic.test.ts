import { simulateWorkerCache, tierRatios, linksClickedIn } from '../cache-sim';
import { DEFAULT_TRAFFIC, describeTraffic, trafficFromFlags, ZipfSampler } from '../traffic';

const draws = (sampler: ZipfSampler, n: number) => Array.from({ length: n }, () => sampler.next());

describe('the traffic model', () => {
  it('draws ranks in proportion to 1/k^s', () => {
    const sampler = new ZipfSampler({ links: 1_000, zipfS: 1 }, 7);
    const counts = new Map<number, number>();
    const n = 400_000;
    for (const r of draws(sampler, n)) counts.set(r, (counts.get(r) ?? 0) + 1);
    const harmonic = Array.from({ length: 1_000 }, (_, i) => 1 / (i + 1)).reduce((a, b) => a + b);
    for (const k of [1, 2, 10, 100]) {
      const expected = n / k / harmonic;
      // Four standard deviations of a binomial count.
      expect(Math.abs(counts.get(k)! - expected)).toBeLessThan(4 * Math.sqrt(expected));
      expect(sampler.probability(k)).toBeCloseTo(1 / k / harmonic, 10);
    }
    expect(Math.min(...counts.keys())).toBe(1);
    expect(Math.max(...counts.keys())).toBeLessThanOrEqual(1_000);
  });

  it('is uniform at s = 0 and the same trace for the same seed', () => {
    const uniform = new ZipfSampler({ links: 10, zipfS: 0 }, 1);
    expect(uniform.probability(1)).toBeCloseTo(0.1, 12);
    expect(uniform.probability(10)).toBeCloseTo(0.1, 12);
    expect(draws(new ZipfSampler(DEFAULT_TRAFFIC, 3), 50)).toEqual(draws(new ZipfSampler(DEFAULT_TRAFFIC, 3), 50));
    expect(draws(new ZipfSampler(DEFAULT_TRAFFIC, 3), 50)).not.toEqual(draws(new ZipfSampler(DEFAULT_TRAFFIC, 4), 50));
  });

  it('takes its size and skew from flags, defaults from scenario.json, and names every bad flag', () => {
    expect(trafficFromFlags({})).toEqual({ links: 1_000_000, zipfS: 1 });
    expect(trafficFromFlags({ links: '5000', zipf: '0.8' })).toEqual({ links: 5_000, zipfS: 0.8 });
    expect(describeTraffic(DEFAULT_TRAFFIC)).toBe('Zipf(1.00) over 1,000,000 links');
    expect(() => trafficFromFlags({ links: 'many', zipf: '-1' })).toThrow(
      "--links must be a whole number from 1 to 50,000,000, got 'many'; --zipf must be a number from 0 to 4, got '-1'",
    );
  });
});

describe('the worker-cache simulation (make plan)', () => {
  const unbounded = { maxEntries: 10_000_000, maxMiB: 4_096, ttlMs: 3_600_000 };

  it('misses each link once when the cache holds them all for the whole trace', () => {
    const model = { links: 5_000, zipfS: 1 };
    const sim = simulateWorkerCache({
      model,
      cache: unbounded,
      reqPerSecPerWorker: 1_000,
      requests: 20_000,
      warmupRequests: 0,
      seed: 9,
    });
    const distinct = new Set(draws(new ZipfSampler(model, 9), 20_000)).size;
    expect(sim.workerHitRatio).toBeCloseTo(1 - distinct / 20_000, 12);
  });

  it('misses one link once per TTL', () => {
    // 100 requests a second for 100 s; the entry lives 10 s from its fill.
    const sim = simulateWorkerCache({
      model: { links: 1, zipfS: 1 },
      cache: { ...unbounded, ttlMs: 10_000 },
      reqPerSecPerWorker: 100,
      requests: 10_000,
      warmupRequests: 0,
    });
    expect(sim.workerHitRatio * 10_000).toBeCloseTo(10_000 - 10, -1);
  });

  it('keeps fewer links hot, and misses more, as each worker sees less of the traffic', () => {
    const cache = { maxEntries: 50_000, maxMiB: 16, ttlMs: 10_000 };
    const model = { links: 200_000, zipfS: 1 };
    const at = (rate: number) => simulateWorkerCache({ model, cache, reqPerSecPerWorker: rate, requests: 100_000 });
    expect(at(1_000).workerHitRatio).toBeLessThan(at(10_000).workerHitRatio - 0.05);
  });

  it('splits the misses between Redis and PostgreSQL by Redis’s TTL at the release’s rate', () => {
    const model = { links: 100_000, zipfS: 1 };
    const sim = simulateWorkerCache({
      model,
      cache: { maxEntries: 1_000, maxMiB: 16, ttlMs: 10_000 },
      reqPerSecPerWorker: 5_000,
      requests: 50_000,
    });
    const misses = 1 - sim.workerHitRatio;
    const slow = tierRatios(sim, 10, 1);
    const busy = tierRatios(sim, 1e6, 3_600);
    for (const t of [slow, busy]) expect(t.workerCache + t.redis + t.postgres).toBeCloseTo(1, 12);
    expect(slow.postgres).toBeGreaterThan(0.95 * misses);
    expect(busy.postgres).toBeLessThan(0.01 * misses);
  });

  it('counts the links clicked within a flush: about one per click while the rate is low, every link when it is high', () => {
    const sampler = new ZipfSampler({ links: 10_000, zipfS: 1 }, 1);
    expect(linksClickedIn(sampler, 0.1, 1)).toBeCloseTo(0.1, 2);
    expect(linksClickedIn(sampler, 1e9, 1)).toBeCloseTo(10_000, 6);
  });
});
