import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { readManifests, scratchProject, withoutVars } from './synth-helpers';

/** `make synth` in a scratch copy of the project, so sizing.ts can be broken on purpose. */
function makeSynth(dir: string, ...args: string[]) {
  return spawnSync('make', ['-s', 'synth', ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: withoutVars('MAKEFLAGS', 'MAKELEVEL', 'MFLAGS', 'ENV', 'BOLTLINK_ENV', 'TAG', 'IMAGE'),
  });
}

function breakProdSizing(dir: string, from: RegExp, to: string): void {
  const file = path.join(dir, 'infra/sizing.ts');
  const text = readFileSync(file, 'utf8');
  const prodAt = text.indexOf('  prod: {');
  const broken = text.slice(0, prodAt) + text.slice(prodAt).replace(from, to);
  expect(broken).not.toBe(text);
  writeFileSync(file, broken);
}

const snapshot = (dir: string) => readFileSync(path.join(dir, 'charts-out/boltlink-prod.k8s.yaml'), 'utf8');

describe('make synth', () => {
  it.each([
    ['0 workers', /workersPerPod: \d+,/, 'workersPerPod: 0,', 'workersPerPod (0) must be a whole number from 1 to 64'],
    [
      'memory below the heap',
      /heapFraction: [\d.]+,/,
      'heapFraction: 0.95,',
      'heapFraction (0.95) must be above 0 and below 0.9',
    ],
    ['a pool of zero', /dbMaxConnections: \d+,/, 'dbMaxConnections: 30,', 'dbPoolPerWorker is 0'],
  ])('fails on %s, naming the field, and leaves charts-out/ untouched', (_name, from, to, message) => {
    const dir = scratchProject();
    const before = snapshot(dir);
    breakProdSizing(dir, from, to);
    const r = makeSynth(dir);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain('charts-out/ left as it was');
    expect(snapshot(dir)).toBe(before);
  });

  it('writes another environment to its own folder, never into charts-out/', () => {
    const dir = scratchProject();
    const before = snapshot(dir);
    const r = makeSynth(dir, 'ENV=staging');
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    expect(snapshot(dir)).toBe(before);
    const staging = readManifests(path.join(dir, 'charts-out.staging'));
    expect(staging.map((f) => f.file)).toEqual(['boltlink-staging.k8s.yaml']);
  });
});
