import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, startService, TOKEN, type TestService } from '../../service/test/helpers';
import { preflight } from '../preflight';
import { sizingFor } from '../sizing';
import { CHARTS_OUT } from './synth-helpers';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'preflight-test-'));
const byName = (items: { name: string; status: string; detail: string }[]) =>
  Object.fromEntries(items.map((i) => [i.name, i]));

describe('make preflight', () => {
  let svc: TestService;
  let results: string;
  beforeAll(async () => {
    svc = await startService();
    results = tmp();
    writeFileSync(path.join(results, 'bench-latest.json'), '{}');
  });
  afterAll(() => svc.stop());

  it('passes every item of the guide’s checklist for the committed prod release and a live service', async () => {
    const secrets = path.join(tmp(), 'secrets.env');
    writeFileSync(
      secrets,
      `DATABASE_URL=${process.env.DATABASE_URL}\nREDIS_URL=${process.env.REDIS_URL}\nAPI_TOKENS=${TOKEN}\n`,
    );
    const items = await preflight(['--env', 'prod', '--url', svc.url, '--env-file', secrets, '--results', results]);
    expect(items.filter((i) => i.status !== 'PASS')).toEqual([]);
    expect(items.map((i) => i.name)).toEqual(
      expect.arrayContaining([
        'build (npm run build)',
        'PM2 ecosystem reviewed',
        'heap and memory restart consistent with the sizing',
        'manifests current',
        'workers match the pod CPU',
        'config present and valid',
        'health checks passing',
        'load test run',
        'backup plan for database/Redis failure',
        'rollback procedure documented',
      ]),
    );
  }, 60_000);

  it('fails each item whose input is wrong, naming what is wrong, and skips what it was not given', async () => {
    const out = path.join(tmp(), 'charts-out');
    cpSync(CHARTS_OUT, out, { recursive: true });
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

    const bare = byName(await preflight(['--env', 'prod', '--results', results]));
    expect(bare['config present and valid']!.status).toBe('SKIP');
    expect(bare['health checks passing']!.status).toBe('SKIP');
  }, 60_000);

  it('refuses an unknown environment', async () => {
    expect(await preflight(['--env', 'qa'])).toEqual([
      { name: 'environment', status: 'FAIL', detail: "'qa' is not one of local, bench, staging, prod" },
    ]);
  });
});
