import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../../test-support/service';

const plan = (results: string) =>
  promisify(execFile)('npx', ['--no-install', 'tsx', 'loadtest/plan.ts', '--results', results], {
    cwd: ROOT,
    encoding: 'utf8',
  });

describe('make plan', () => {
  it('without a bench result, plans from the guide’s estimate and says so', async () => {
    const { stdout } = await plan(path.join(os.tmpdir(), 'no-such-bench.json'));
    expect(stdout).toMatch(/^NOT MEASURED: no make bench result at .*no-such-bench\.json\./);
    expect(stdout).toContain('Measure with make bench');
    expect(stdout).toMatch(/\|\s+4 \|\s+4 \|\s+4,000 \|\s+4,000 \|/);
    expect(stdout).toContain('req/s (guide estimate)');
  });

  it('with a bench result, plans from the measured rate per worker', async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'plan-')), 'bench-latest.json');
    writeFileSync(
      file,
      JSON.stringify({
        measuredAt: '2026-11-28T00:00:00Z',
        machine: { model: 'test CPU' },
        perWorkerReqPerSec: 6000,
        results: {},
      }),
    );
    const { stdout } = await plan(file);
    expect(stdout).toMatch(/^Measured: 6,000 req\/s per PM2 worker .* on 2026-11-28 \(test CPU\)\./);
    expect(stdout).toMatch(/\|\s+4 \|\s+4 \|\s+24,000 \|\s+4,000 \|/);
  });
});
