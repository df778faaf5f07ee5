import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT, SECOND_TOKEN, startService, TOKEN, type TestService } from '../../test-support/service';
import { html, summary } from '../report';
import { meetsThresholds, mixRequests, probeCreate, run, runMix } from '../runner';
import { scenario, schedule } from '../scenario';
import { slugOfRank, SLUG_PREFIX } from '../traffic';
import { sql } from '../../test-support/service';

/** A small long tail for the tests (the default is a million links). */
const TRAFFIC = { links: 2_000, zipfS: 1 };

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
      traffic: TRAFFIC,
      databaseUrl: svc.config.DATABASE_URL,
    });
    // The model's links were seeded in bulk (or by an earlier test of this run), never through the API.
    const [seeded] = await sql<{ n: string }>(`SELECT count(*) AS n FROM links WHERE slug ~ '^${SLUG_PREFIX}[0-9]+$'`);
    expect(Number(seeded!.n)).toBe(TRAFFIC.links);
    expect(r.requests.total).toBeGreaterThan(100);
    expect(r.requests.total).toBeLessThanOrEqual(1500 + 4);
    expect(r.errors).toEqual({ socket: 0, timeouts: 0, unexpectedStatus: 0 });
    expect(Object.keys(r.byStep).sort()).toEqual(['create', 'info', 'redirect', 'unknown']);
    expect(Object.keys(r.byStatus).sort()).toEqual(['200', '201', '302', '404']);
    expect(r.histogram.reduce((n, b) => n + b.count, 0)).toBe(r.requests.total);
    // The buckets place latencies where the percentiles say: half the responses at or below the median's bucket.
    const medianBucket = r.histogram.findIndex((b) => b.upToMs >= r.latencyMs.p50);
    const countThrough = (i: number) => r.histogram.slice(0, i + 1).reduce((n, b) => n + b.count, 0);
    expect(countThrough(medianBucket - 1)).toBeLessThanOrEqual(r.requests.total / 2);
    expect(countThrough(medianBucket)).toBeGreaterThanOrEqual(r.requests.total / 2);
    expect(r.latencyMs.p50).toBeLessThanOrEqual(r.latencyMs.p95);
    expect(r.latencyMs.p95).toBeLessThanOrEqual(r.latencyMs.p99);
    expect(r.perSecond.length).toBeGreaterThanOrEqual(1);
    expect(meetsThresholds(r).errorRate).toBe(0);

    const text = summary(r);
    expect(text).toMatch(/requests\s+\d+ \(\d+ req\/s\)/);
    expect(text).toMatch(/p95 [\d.]+ ms/);
    const page = html(r, { thresholds: scenario.thresholds, ...meetsThresholds(r) });
    expect(page).toContain('<svg');
    expect(page).toContain('Latency histogram');
    expect(page).toContain('Throughput over time');
    // Latency over time and by kind: every response in a second of its own and under its step.
    expect(r.latencyOverTime.length).toBeGreaterThanOrEqual(1);
    for (const p of r.latencyOverTime) expect(p.p50).toBeLessThanOrEqual(p.p99);
    expect(Object.fromEntries(Object.entries(r.latencyByKind).map(([k, v]) => [k, v.count]))).toEqual(
      Object.fromEntries(Object.entries(r.byStep).map(([k, v]) => [k, v.count])),
    );
    expect(page).toContain('Latency over time (p50 and p99 of each second)');
    expect(page).toMatch(/<h2>Latency by request kind<\/h2>.*<td>redirect<\/td>/s);
    expect(text).toMatch(/ {2}redirect {6}\d+ requests, p50 [\d.]+ ms/);
    expect(page).toMatch(/<strong>PASS<\/strong>: error rate 0\.000 % \(max 0\.1 %\), p95 [\d.]+ ms \(max 150 ms\)/);
    // No empty trailing bar: autocannon's tick after the last request is not a second of the run.
    expect(r.perSecond.at(-1)).toBeGreaterThan(0);
  });

  it('refuses to load a service that rate-limits link creation, naming the setting', async () => {
    const limited = await startService({ RATE_LIMIT_CREATES: '120' });
    try {
      await expect(probeCreate(limited.url, TOKEN)).rejects.toThrow(
        /rate-limits link creation \(120 per client per window, RATE_LIMIT_CREATES\).*RATE_LIMIT_CREATES=0/,
      );
    } finally {
      await limited.stop();
    }
  });

  it('runs as the README documents it: npm run loadtest with the service’s API_TOKENS', async () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'loadtest-'));
    const { stdout } = await promisify(execFile)(
      'npm',
      [
        'run',
        '-s',
        'loadtest',
        '--',
        '--url',
        svc.url,
        '--connections',
        '4',
        '--duration',
        '2',
        '--out',
        out,
        '--links',
        String(TRAFFIC.links),
      ],
      {
        cwd: ROOT,
        env: { ...process.env, API_TOKENS: `${TOKEN},${SECOND_TOKEN}`, DATABASE_URL: svc.config.DATABASE_URL },
      },
    );
    expect(stdout).toMatch(/thresholds .*: PASS/);
    expect(stdout).toContain('Zipf(1.00) over 2,000 links');
    const files = readdirSync(out).sort();
    expect(files.map((f) => path.extname(f))).toEqual(['.html', '.json']);
    const saved = JSON.parse(readFileSync(path.join(out, files[1]!), 'utf8'));
    expect(saved.verdict.passed).toBe(true);
    expect(saved.requests.total).toBeGreaterThan(100);
  }, 60_000);

  it('stops before loading when the service refuses its token', async () => {
    await expect(
      runMix({
        title: 't',
        url: svc.url,
        token: 'not-a-valid-token-0000',
        connections: 1,
        durationSeconds: 1,
        traffic: TRAFFIC,
        databaseUrl: svc.config.DATABASE_URL,
      }),
    ).rejects.toThrow(/the probe create failed: POST \/api\/links answered 401/);
  });

  it('says where to seed when it has no database to seed', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, API_TOKENS: TOKEN };
    delete env.DATABASE_URL;
    const failed = await promisify(execFile)('npm', ['run', '-s', 'loadtest', '--', '--url', svc.url], {
      cwd: ROOT,
      env,
    }).catch((err: { code: number; stderr: string }) => err);
    expect(failed).toMatchObject({ code: 2 });
    expect((failed as { stderr: string }).stderr).toContain('pass --database-url or set DATABASE_URL');
  });

  it('counts statuses a step did not expect (creates refused with a wrong token)', async () => {
    const slugs = [1, 2, 3].map(slugOfRank);
    await sql(
      `INSERT INTO links (slug, url) SELECT unnest($1::text[]), 'https://example.com/t' ON CONFLICT DO NOTHING`,
      [slugs],
    );
    const stats: Record<string, { count: number; unexpected: number }> = {};
    await run({
      title: 't',
      url: svc.url,
      connections: 2,
      durationSeconds: 1,
      maxRequests: 400,
      requests: mixRequests('wrong-token-0000000000', () => slugs[Math.floor(Math.random() * 3)]!, stats),
    });
    expect(stats.create!.unexpected).toBe(stats.create!.count);
    expect(stats.create!.count).toBeGreaterThan(0);
    expect(stats.redirect!.unexpected).toBe(0);
  });
});
