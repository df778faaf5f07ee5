import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { sizingFor } from '../../common/sizing';
import { ROOT } from '../../test-support/service';

const plan = (...args: string[]) =>
  promisify(execFile)('npx', ['--no-install', 'tsx', 'loadtest/plan.ts', ...args], { cwd: ROOT, encoding: 'utf8' });

/** The cells of the table row that starts with `first` and `second`. */
const row = (out: string, first: string, second: string) =>
  out
    .split('\n')
    .map((l) => l.split('|').map((c) => c.trim()))
    .find((c) => c[1] === first && c[2] === second)
    ?.slice(1, -1);
const num = (cell: string) => Number(cell.replace(/[,%$ ]/g, ''));

describe('make plan', () => {
  it('without a bench result, plans from the guide’s estimate and says so, in one estimate column', async () => {
    const { stdout } = await plan('--results', path.join(os.tmpdir(), 'no-such-bench.json'));
    expect(stdout).toMatch(/^NOT MEASURED: no make bench result with per-tier costs at .*no-such-bench\.json\./);
    expect(stdout).toContain('Measure with make bench');
    const prod = sizingFor('prod');
    expect(row(stdout, 'prod', String(prod.pm2Instances))).toEqual([
      'prod',
      '4',
      '4000m',
      `${prod.memoryLimitMiB}Mi`,
      '3-12',
      '4,000',
      '12,000',
      '48,000',
    ]);
  });

  it('with a bench result, plans the long tail per tier, each environment at its minimum and maximum', async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'plan-')), 'bench-latest.json');
    writeFileSync(
      file,
      JSON.stringify({
        measuredAt: '2026-11-28T00:00:00Z',
        machine: { model: 'test CPU' },
        traffic: { links: 20_000, zipfS: 1 },
        perWorkerReqPerSec: 60_000,
        tierCosts: {
          workerCacheMicros: 20,
          redisMicros: 30,
          postgresMicros: 60,
          anchor: { steadyMicros: 23, workerCacheHitRatio: 0.7 },
        },
      }),
    );
    const { stdout } = await plan('--results', file, '--sim-requests', '30000');
    expect(stdout).toContain('Traffic model: Zipf(1.00) over 20,000 links');
    expect(stdout).toContain('20 µs from the worker cache, 30 µs from Redis, 60 µs from PostgreSQL');
    expect(stdout).toContain('One hot link, the ceiling: 60,000 req/s per worker.');
    for (const env of ['staging', 'prod'] as const) {
      const s = sizingFor(env);
      for (const pods of [s.minReplicas, s.maxReplicas]) {
        const cells = row(stdout, env, String(pods))!;
        const [, , workers, perWorker, cache, redis, postgres, micros, total] = cells.map(num);
        expect(workers).toBe(pods * s.pm2Instances);
        // A small long tail at tens of thousands of requests a second: the worker caches hold most of it.
        expect(cache).toBeGreaterThan(50);
        expect(cache! + redis! + postgres!).toBeCloseTo(100, 0);
        // At capacity: the rate is what the CPU per redirect allows, and the release's rate the workers' sum.
        expect(Math.abs(perWorker! * micros! - 1e6)).toBeLessThan(1e6 * 0.005);
        expect(micros).toBeGreaterThan(20);
        expect(micros).toBeLessThan(30);
        expect(Math.abs(total! - perWorker! * workers!)).toBeLessThan(workers!);
      }
    }
    // The same demand over more pods: each worker's cache sees less of it and hits less often.
    const prod = sizingFor('prod');
    const spread = stdout.split('The same demand spread wider')[1]!;
    const hits = [prod.minReplicas, prod.maxReplicas].map((p) =>
      num(
        spread
          .split('\n')
          .find((l) => l.startsWith(`| ${String(p).padStart(4)} |`))!
          .split('|')[3]!,
      ),
    );
    expect(hits[1]).toBeLessThan(hits[0]!);
  });
});
