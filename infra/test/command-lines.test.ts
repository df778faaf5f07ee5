import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sizingFor } from '../../common/sizing';
import { CHARTS_OUT, container, envValue, readManifests, ROOT, withoutVars } from '../../test-support/synth';

describe('the sizing and build-args command lines', () => {
  const tsx = (script: string, ...args: string[]) =>
    spawnSync('npx', ['--no-install', 'tsx', script, ...args], { cwd: ROOT, encoding: 'utf8' });

  it.each([
    ['common/sizing-cli.ts', 'sizing: Unknown option'],
    ['infra/build-args.ts', 'build-args: Unknown option'],
  ])('%s refuses a mistyped flag instead of printing prod', (script, message) => {
    const r = tsx(script, '--evn', 'staging');
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`${message} '--evn'`);
  });

  it('prints one field for the Makefile', () => {
    expect(tsx('common/sizing-cli.ts', '--env', 'staging', '--get', 'pm2Instances').stdout).toBe(
      `${sizingFor('staging').pm2Instances}\n`,
    );
  });
});

describe('the image and the manifest agree on the worker count', () => {
  it('bakes the same PM2_INSTANCES that the Deployment sets', () => {
    const dry = execFileSync('make', ['--no-print-directory', '-n', 'image'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: withoutVars('MAKEFLAGS', 'MAKELEVEL', 'MFLAGS', 'ENV', 'TAG', 'IMAGE'),
    })
      .split('\n')
      .find((l) => l.startsWith('docker build '));
    expect(dry).toBeDefined();
    const resolved = execFileSync('bash', ['-c', dry!.replace(/^docker build/, 'echo')], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    const workers = /--build-arg WORKERS=(\d+)/.exec(resolved)?.[1];
    const manifest = envValue(container(readManifests(CHARTS_OUT)[0]!.objects), 'PM2_INSTANCES').value;
    expect(workers).toBe(manifest);
    expect(Number(workers)).toBe(sizingFor('prod').pm2Instances);
    // The ecosystem file PM2 loads in the image starts what the image bakes (PM2_INSTANCES=WORKERS).
    const ecosystem = execFileSync(
      process.execPath,
      ['-p', `JSON.stringify(require('./service/ecosystem.config.js').apps[0].instances)`],
      { cwd: ROOT, encoding: 'utf8', env: { ...process.env, BOLTLINK_SIZING: 'prod', PM2_INSTANCES: workers } },
    );
    expect(ecosystem.trim()).toBe(workers);
  });
});

describe('make image without a Docker engine', () => {
  it('says how to get one, and leaves .env as it was', () => {
    const envFile = path.join(ROOT, '.env');
    const before = existsSync(envFile) ? readFileSync(envFile, 'utf8') : undefined;
    const r = spawnSync('make', ['-s', 'image', 'DOCKER=false'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: withoutVars('MAKEFLAGS', 'MAKELEVEL', 'MFLAGS', 'ENV'),
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(
      'make image: no Docker engine answers (false info failed): start Docker, or run bash infra/image-test/engine.sh',
    );
    expect(existsSync(envFile) ? readFileSync(envFile, 'utf8') : undefined).toBe(before);
  });
});

describe('make validate (charts-out offline, no API server)', () => {
  const validate = (dir: string) =>
    spawnSync('make', ['-s', 'validate', `DIR=${dir}`], {
      cwd: ROOT,
      encoding: 'utf8',
      env: withoutVars('MAKEFLAGS', 'MAKELEVEL', 'MFLAGS', 'ENV'),
    });

  it('passes the committed release and names every problem of a broken one', () => {
    const ok = validate(CHARTS_OUT);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(
      /charts-out: \d+ objects valid against the Kubernetes API schemas and the manifest rules/,
    );
    const dir = mkdtempSync(path.join(os.tmpdir(), 'validate-'));
    const manifest = readFileSync(path.join(CHARTS_OUT, 'boltlink-prod.k8s.yaml'), 'utf8');
    // A Service port the API refuses, and a container without its CPU limit.
    const broken = manifest
      .replace(/(kind: Service[\s\S]*?- port: )\d+/, '$1"http"')
      .replace(/(limits:\n\s+cpu: )\S+\n/, '$1\n');
    expect(broken).not.toBe(manifest);
    writeFileSync(path.join(dir, 'boltlink-prod.k8s.yaml'), broken);
    const bad = validate(dir);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/^Deployment\/boltlink-backend: .*resources\/limits\/cpu/m);
    expect(bad.stdout).toMatch(/problem\(s\) in \d+ objects/);
  });
});
