import { startService, TOKEN, type TestService } from '../../service/test/helpers';
import { html, summary } from '../report';
import { meetsThresholds, mixRequests, run, runMix, seedLinks } from '../runner';
import { scenario, schedule } from '../scenario';

describe('the scenario schedule', () => {
  it('carries every step in proportion to its weight, interleaved', () => {
    const steps = schedule();
    for (const step of scenario.mix) expect(steps.filter((s) => s.name === step.name)).toHaveLength(step.weight);
    const firstTwenty = new Set(steps.slice(0, 20).map((s) => s.name));
    expect(firstTwenty.size).toBeGreaterThan(2);
  });
});

describe('the load runner (npm run loadtest)', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService({ ACCESS_LOG_SAMPLE_RATE: '0' });
  });
  afterAll(() => svc.stop());

  it('runs the mix against the real service, bounded, and reports every request', async () => {
    const r = await runMix({
      title: 'test run',
      url: svc.url,
      token: TOKEN,
      connections: 4,
      durationSeconds: 2,
      maxRequests: 1500,
    });
    expect(r.requests.total).toBeGreaterThan(100);
    expect(r.requests.total).toBeLessThanOrEqual(1500 + 4);
    expect(r.errors).toEqual({ socket: 0, timeouts: 0, unexpectedStatus: 0 });
    expect(Object.keys(r.byStep).sort()).toEqual(['create', 'info', 'redirect', 'unknown']);
    expect(Object.keys(r.byStatus).sort()).toEqual(['200', '201', '302', '404']);
    expect(r.histogram.reduce((n, b) => n + b.count, 0)).toBe(r.requests.total);
    expect(r.latencyMs.p50).toBeLessThanOrEqual(r.latencyMs.p95);
    expect(r.latencyMs.p95).toBeLessThanOrEqual(r.latencyMs.p99);
    expect(r.perSecond.length).toBeGreaterThanOrEqual(1);
    expect(meetsThresholds(r).errorRate).toBe(0);

    const text = summary(r);
    expect(text).toMatch(/requests\s+\d+ \(\d+ req\/s\)/);
    expect(text).toMatch(/p95 [\d.]+ ms/);
    const page = html(r);
    expect(page).toContain('<svg');
    expect(page).toContain('Latency histogram');
    expect(page).toContain('Throughput over time');
  });

  it('stops before loading when it cannot seed links', async () => {
    await expect(
      runMix({ title: 't', url: svc.url, token: 'not-a-valid-token-0000', connections: 1, durationSeconds: 1 }),
    ).rejects.toThrow(/seeding failed: POST \/api\/links answered 401/);
  });

  it('counts statuses a step did not expect (creates refused with a wrong token)', async () => {
    const slugs = await seedLinks(svc.url, TOKEN, 3);
    const stats: Record<string, { count: number; unexpected: number }> = {};
    await run({
      title: 't',
      url: svc.url,
      connections: 2,
      durationSeconds: 1,
      maxRequests: 400,
      requests: mixRequests('wrong-token-0000000000', slugs, stats),
    });
    expect(stats.create!.unexpected).toBe(stats.create!.count);
    expect(stats.create!.count).toBeGreaterThan(0);
    expect(stats.redirect!.unexpected).toBe(0);
  });
});
