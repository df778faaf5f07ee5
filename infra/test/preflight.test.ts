import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, startService, TOKEN, type TestService } from '../../test-support/service';
import { preflight, type Item } from '../preflight';
import { sizingFor } from '../../common/sizing';
import { CHARTS_OUT, ROOT } from '../../test-support/synth';

const made: string[] = [];
const tmp = () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'preflight-test-'));
  made.push(dir);
  return dir;
};
afterAll(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));
const byName = (items: Item[]) => Object.fromEntries(items.map((i) => [i.name, i]));

/** A results folder holding `files` (name → JSON). */
function results(files: Record<string, unknown>): string {
  const dir = tmp();
  for (const [name, body] of Object.entries(files)) writeFileSync(path.join(dir, name), JSON.stringify(body));
  return dir;
}
const MEASURED_BENCH = { results: { cached: { requests: { total: 91_000, perSecond: 9_100 } } } };

/** What a release synthesized with real origins looks like (make synth with BOLTLINK_* set). */
const REAL = { BOLTLINK_PUBLIC_BASE_URL: 'https://sho.rt', BOLTLINK_ALLOWED_ORIGINS: 'https://app.sho.rt' };

describe('make preflight', () => {
  let svc: TestService;
  let realOut: string;
  beforeAll(async () => {
    svc = await startService();
    realOut = path.join(tmp(), 'out');
    execFileSync('npx', ['--no-install', 'cdk8s', 'synth', '--no-check-upgrade', '--output', realOut], {
      cwd: ROOT,
      env: { ...process.env, ...REAL, BOLTLINK_ENV: 'prod', IMAGE: '', TAG: '' },
      stdio: 'pipe',
    });
    Object.assign(process.env, REAL);
  });
  afterAll(async () => {
    for (const k of Object.keys(REAL)) delete process.env[k];
    await svc.stop();
  });

  it('passes every item of the guide’s checklist for a prod release with real origins and a live service', async () => {
    const secrets = path.join(tmp(), 'secrets.env');
    writeFileSync(
      secrets,
      `DATABASE_URL=${process.env.DATABASE_URL}\nREDIS_URL=${process.env.REDIS_URL}\nAPI_TOKENS=${TOKEN}\n`,
    );
    const items = await preflight([
      ...['--env', 'prod', '--out', realOut, '--url', svc.url, '--env-file', secrets],
      ...['--results', results({ 'bench-latest.json': MEASURED_BENCH })],
    ]);
    expect(items.filter((i) => i.status !== 'PASS')).toEqual([]);
    expect(items.map((i) => i.name)).toEqual([
      'sizing valid',
      'build (npm run build)',
      'PM2 ecosystem reviewed',
      'heap and memory restart consistent with the sizing',
      'manifests current',
      'workers match the pod CPU',
      'NODE_ENV=production',
      'public URL and CORS origins are real',
      'logs and PM2 state writable',
      'API schemas, cluster rules and restricted Pod Security',
      'monitoring configured',
      'config present and valid',
      'health checks passing',
      'ready for traffic',
      'load test run',
      'backup plan for database/Redis failure',
      'rollback procedure documented',
    ]);
  }, 60_000);

  it('fails the committed release, whose public URL and origins are placeholders', async () => {
    for (const k of Object.keys(REAL)) delete process.env[k];
    try {
      const items = byName(await preflight(['--env', 'prod', '--out', CHARTS_OUT]));
      expect(items['manifests current']!.status).toBe('PASS');
      expect(items['public URL and CORS origins are real']).toEqual({
        name: 'public URL and CORS origins are real',
        status: 'FAIL',
        detail:
          'https://blt.example.com is a placeholder; https://app.blt.example.com is a placeholder: ' +
          'set BOLTLINK_PUBLIC_BASE_URL and BOLTLINK_ALLOWED_ORIGINS, then make synth',
      });
    } finally {
      Object.assign(process.env, REAL);
    }
  }, 60_000);

  it('fails each item whose input is wrong, naming what is wrong, and skips what it was not given', async () => {
    const out = path.join(tmp(), 'charts-out');
    cpSync(realOut, out, { recursive: true });
    const file = path.join(out, 'boltlink-prod.k8s.yaml');
    const limit = `memory: ${sizingFor('prod').memoryLimitMiB}Mi`;
    const text = readFileSync(file, 'utf8');
    expect(text).toContain(limit);
    writeFileSync(file, text.replaceAll(limit, 'memory: 1Gi'));
    const secrets = path.join(tmp(), 'secrets.env');
    writeFileSync(secrets, 'DATABASE_URL=postgresql://db/x\nREDIS_URL=http://cache:6379\n');
    const closed = `http://127.0.0.1:${await freePort()}`;

    const items = byName(
      await preflight(['--env', 'prod', '--out', out, '--url', closed, '--env-file', secrets, '--results', tmp()]),
    );
    expect(items['manifests current']).toMatchObject({
      status: 'FAIL',
      detail: expect.stringContaining('boltlink-prod.k8s.yaml'),
    });
    expect(items['config present and valid']!.status).toBe('FAIL');
    expect(items['config present and valid']!.detail).toMatch(
      /REDIS_URL: .*API_TOKENS: is required|API_TOKENS: is required.*REDIS_URL/,
    );
    expect(items['health checks passing']).toMatchObject({
      status: 'FAIL',
      detail: expect.stringContaining('unreachable'),
    });
    expect(items['load test run']!.status).toBe('FAIL');

    const bare = byName(await preflight(['--env', 'prod', '--out', realOut, '--results', tmp()]));
    expect(bare['config present and valid']!.status).toBe('SKIP');
    expect(bare['health checks passing']!.status).toBe('SKIP');
  }, 60_000);

  describe('load test run', () => {
    const loadTest = (name: string, dir: string) =>
      preflight(['--env', 'prod', '--out', realOut, '--results', dir]).then((i) => byName(i)[name]!);
    const load = (passed: boolean) => ({
      requests: { total: 12_000 },
      latencyMs: { p95: passed ? 40 : 400 },
      verdict: { passed, errorRate: 0 },
    });

    it('fails a bench result with no measured case', async () => {
      expect((await loadTest('load test run', results({ 'bench-latest.json': {} }))).status).toBe('FAIL');
    });

    it('passes a measured bench, and counts an npm run loadtest result by its verdict', async () => {
      expect((await loadTest('load test run', results({ 'bench-latest.json': MEASURED_BENCH }))).status).toBe('PASS');
      expect((await loadTest('load test run', results({ 'load-2026-11-28.json': load(true) }))).status).toBe('PASS');
      const missed = await loadTest('load test run', results({ 'load-2026-11-28.json': load(false) }));
      expect(missed).toMatchObject({ status: 'FAIL', detail: expect.stringContaining('thresholds missed') });
    });
  });

  it('refuses an unknown environment and an unknown flag', async () => {
    expect(await preflight(['--env', 'qa'])).toEqual([
      {
        name: 'environment',
        status: 'FAIL',
        detail: "'qa' is not one of local, bench, staging, cluster-test, prod",
      },
    ]);
    await expect(preflight(['--env', 'prod', '--evn-file', 'x'])).rejects.toThrow("Unknown option '--evn-file'");
  });
});
