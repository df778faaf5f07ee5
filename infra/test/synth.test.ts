import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { CONTAINER_NAME, DEPLOYMENT_NAME } from '../names';
import { MEMORY_RESTART_FRACTION, sizingFor } from '../../common/sizing';
import { TOKEN } from '../../test-support/service';
import {
  CHARTS_OUT,
  filesUnder,
  readManifests,
  ROOT,
  scratchProject,
  textUnder,
  withoutVars,
} from '../../test-support/synth';

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are plain JSON */

/** `make synth` in a scratch copy of the project, so sizing.ts can be broken on purpose. */
function makeSynth(dir: string, ...args: string[]) {
  return spawnSync('make', ['-s', 'synth', ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: withoutVars('MAKEFLAGS', 'MAKELEVEL', 'MFLAGS', 'ENV', 'BOLTLINK_ENV', 'TAG', 'IMAGE'),
  });
}

function breakProdSizing(dir: string, from: RegExp, to: string): void {
  const file = path.join(dir, 'common/sizing.ts');
  const text = readFileSync(file, 'utf8');
  const prodAt = text.indexOf('  prod: {');
  const broken = text.slice(0, prodAt) + text.slice(prodAt).replace(from, to);
  expect(broken).not.toBe(text);
  writeFileSync(file, broken);
}

/** The memory alert's threshold (rule file and PrometheusRule) and the dashboard's restart line, in bytes. */
function memoryThresholds(dir: string) {
  const out = path.join(dir, 'charts-out');
  const alertIn = (groups: { rules: { alert?: string; expr: string }[] }[]) =>
    Number(
      /> [\d.]+ \* (\d+)$/.exec(
        groups.flatMap((g) => g.rules).find((r) => r.alert === 'BoltLinkWorkerMemoryNearRestart')!.expr,
      )![1],
    );
  const ruleFile = parse(readFileSync(path.join(out, 'monitoring/prometheus/boltlink-rules.yaml'), 'utf8'));
  const operator = readManifests(path.join(out, 'monitoring')).flatMap((f) => f.objects);
  const dashboardMap = readManifests(out)
    .flatMap((f) => f.objects)
    .find((o) => o.kind === 'ConfigMap' && o.metadata.labels?.grafana_dashboard === '1')!;
  const dashboard = JSON.parse(Object.values(dashboardMap.data as Record<string, string>)[0]!);
  const panel = dashboard.panels.find((p: { title: string }) => p.title === 'Worker memory (resident)');
  return {
    ruleFile: alertIn(ruleFile.groups),
    prometheusRule: alertIn((operator.find((o) => o.kind === 'PrometheusRule') as any).spec.groups),
    dashboardLine: panel.fieldConfig.defaults.thresholds.steps[1].value as number,
  };
}

const snapshot = (dir: string) => readFileSync(path.join(dir, 'charts-out/boltlink-prod.k8s.yaml'), 'utf8');

describe('make synth', () => {
  // One failing case is enough here (it proves make synth's atomicity); every sizing error is unit-tested in sizing.test.ts.
  it('fails on a sizing that cannot work, naming the field, and leaves charts-out/ untouched', () => {
    const dir = scratchProject();
    const before = snapshot(dir);
    breakProdSizing(dir, /workersPerPod: \d+,/, 'workersPerPod: 0,');
    const r = makeSynth(dir);
    expect(r.status).not.toBe(0);
    // One line naming the field, then make's own: no stack trace.
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^synth: invalid sizing for 'prod': workersPerPod \(0\) must be a whole number from 1 to 64/,
      ),
      'synth failed: charts-out/ left as it was',
      expect.stringMatching(/^make: \*\*\* \[Makefile:\d+: synth\] Error 1$/),
    ]);
    expect(snapshot(dir)).toBe(before);
  });

  it('says on its last lines which values are placeholders and which variables set them', () => {
    const dir = scratchProject();
    const placeholders = makeSynth(dir);
    expect(placeholders.status).toBe(0);
    expect(placeholders.stdout.trim().split('\n').slice(-2)).toEqual([
      'note: https://blt.example.com is a placeholder: set BOLTLINK_PUBLIC_BASE_URL before make synth for a real release',
      'note: https://app.blt.example.com is a placeholder: set BOLTLINK_ALLOWED_ORIGINS before make synth for a real release',
    ]);
    const real = spawnSync('make', ['-s', 'synth', 'ENV=staging'], {
      cwd: dir,
      encoding: 'utf8',
      env: {
        ...withoutVars('MAKEFLAGS', 'MAKELEVEL', 'MFLAGS', 'ENV', 'BOLTLINK_ENV', 'TAG', 'IMAGE'),
        BOLTLINK_PUBLIC_BASE_URL: 'https://l.example.org',
        BOLTLINK_ALLOWED_ORIGINS: 'https://app.example.org',
      },
    });
    expect(real.status).toBe(0);
    expect(real.stdout).not.toContain('note:');
  });

  it('a change to the sizing moves the memory alert and the dashboard’s threshold line', () => {
    const dir = scratchProject();
    const MiB = 1024 * 1024;
    const restartBytes = (memoryMiBPerWorker: number) => Math.floor(memoryMiBPerWorker * MEMORY_RESTART_FRACTION) * MiB;
    const prod = sizingFor('prod');
    expect(memoryThresholds(dir)).toEqual({
      ruleFile: restartBytes(prod.memoryMiBPerWorker),
      prometheusRule: restartBytes(prod.memoryMiBPerWorker),
      dashboardLine: restartBytes(prod.memoryMiBPerWorker),
    });
    const doubled = prod.memoryMiBPerWorker * 2;
    breakProdSizing(dir, /memoryMiBPerWorker: \d+,/, `memoryMiBPerWorker: ${doubled},`);
    const r = makeSynth(dir);
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    expect(memoryThresholds(dir)).toEqual({
      ruleFile: restartBytes(doubled),
      prometheusRule: restartBytes(doubled),
      dashboardLine: restartBytes(doubled),
    });
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

describe('charts-out/ (the committed output of make synth)', () => {
  const objects = readManifests(CHARTS_OUT).flatMap((f) => f.objects);

  it('equals a fresh synth', () => {
    const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'synth-')), 'out');
    execFileSync('npx', ['--no-install', 'cdk8s', 'synth', '--no-check-upgrade', '--output', out], {
      cwd: ROOT,
      env: {
        ...process.env,
        BOLTLINK_ENV: '',
        IMAGE: '',
        TAG: '',
        BOLTLINK_PUBLIC_BASE_URL: '',
        BOLTLINK_ALLOWED_ORIGINS: '',
      },
      stdio: 'pipe',
    });
    // Every file, charts-out/monitoring/ included.
    expect(filesUnder(out)).toEqual(filesUnder(CHARTS_OUT));
    for (const f of filesUnder(out)) {
      expect([f, readFileSync(path.join(out, f), 'utf8')]).toEqual([f, readFileSync(path.join(CHARTS_OUT, f), 'utf8')]);
    }
  });

  it('names the Deployment and container so the guide’s kubectl set image works offline', () => {
    const dep = objects.find((o) => o.kind === 'Deployment')!;
    expect(dep.metadata.name).toBe(DEPLOYMENT_NAME);
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'dep-')), 'deployment.yaml');
    writeFileSync(file, stringify(dep));
    const r = spawnSync(
      'kubectl',
      ['set', 'image', '--local', '-f', file, `${CONTAINER_NAME}=boltlink-backend:v1.1`, '-o', 'json'],
      { encoding: 'utf8' },
    );
    expect({ status: r.status, stderr: r.stderr, error: r.error?.message }).toEqual({
      status: 0,
      stderr: '',
      error: undefined,
    });
    const images = JSON.parse(r.stdout).spec.template.spec.containers.map((c: any) => c.image);
    // Every container moves: migrations run in the serving container, so code and schema change together.
    expect(images).toEqual(['boltlink-backend:v1.1']);
    expect(JSON.parse(r.stdout).spec.template.spec.initContainers ?? []).toEqual([]);
  });
});

describe('secrets', () => {
  it('never reach the manifests, even when the synth runs with secrets in its environment', () => {
    const canaries = {
      API_TOKENS: `${TOKEN},canary-token-7f3a9c1e5b2d`,
      DATABASE_URL: 'postgresql://boltlink:canary-db-password-41c8@db.internal:5432/boltlink',
      REDIS_URL: 'redis://:canary-redis-password-9e0d@cache.internal:6379',
    };
    const dir = scratchProject();
    const r = spawnSync('make', ['-s', 'synth'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...withoutVars('MAKEFLAGS', 'MAKELEVEL', 'MFLAGS', 'ENV', 'BOLTLINK_ENV', 'TAG', 'IMAGE'), ...canaries },
    });
    expect(r.status).toBe(0);
    const out = path.join(dir, 'charts-out');
    const text = textUnder(out);
    const needles = [TOKEN, 'canary-token-7f3a9c1e5b2d', 'canary-db-password-41c8', 'canary-redis-password-9e0d'];
    expect(needles.filter((n) => text.includes(n))).toEqual([]);
    expect(text).not.toMatch(/^kind: Secret$/m);
    // The committed release is the same text: it holds no secret either.
    expect(textUnder(CHARTS_OUT)).toBe(text);
  });
});
