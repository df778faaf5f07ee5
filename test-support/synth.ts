import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Testing } from 'cdk8s';
import { parseAllDocuments } from 'yaml';
import { BoltLinkChart, BoltLinkGatewayChart, type BoltLinkChartProps } from '../infra/chart';
import type { K8sObject } from '../infra/rules';
import type { EnvironmentName } from '../common/sizing';

import { ROOT } from './root';

export { ROOT };
export const CHARTS_OUT = path.join(ROOT, 'charts-out');

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are plain JSON */
/** The whole release for `environment`: the chart's objects, then its HTTPRoute (charts-out/gateway/). */
export function synth(environment: EnvironmentName, props: Partial<BoltLinkChartProps> = {}): K8sObject[] {
  const app = Testing.app();
  const chart = new BoltLinkChart(app, 'test', {
    environment,
    image: 'boltlink-backend:v9.9.9',
    publicBaseUrl: 'https://sho.rt',
    allowedOrigins: ['https://app.sho.rt'],
    ...props,
  });
  const gateway = new BoltLinkGatewayChart(app, 'test-gateway', chart);
  return [...Testing.synth(chart), ...Testing.synth(gateway)] as K8sObject[];
}

/** Every file under `dir`, subfolders included (charts-out/monitoring/), as sorted relative paths. */
export const filesUnder = (dir: string): string[] =>
  (readdirSync(dir, { recursive: true }) as string[]).filter((f) => statSync(path.join(dir, f)).isFile()).sort();

/** The text of every file under `dir`, joined. */
export const textUnder = (dir: string): string =>
  filesUnder(dir)
    .map((f) => readFileSync(path.join(dir, f), 'utf8'))
    .join('\n');

export function readManifests(dir: string): { file: string; objects: K8sObject[] }[] {
  const files = execFileSync('ls', [dir], { encoding: 'utf8' })
    .split('\n')
    .filter((f) => f.endsWith('.yaml'));
  return files.map((file) => ({
    file,
    objects: parseAllDocuments(readFileSync(path.join(dir, file), 'utf8')).map((d) => d.toJSON() as K8sObject),
  }));
}

export const find = (objects: readonly K8sObject[], kind: string): any => {
  const found = objects.filter((o) => o.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0];
};

export const container = (objects: readonly K8sObject[]): any =>
  find(objects, 'Deployment').spec.template.spec.containers[0];

export function envValue(c: any, name: string): any {
  return c.env.find((e: any) => e.name === name);
}

/** Parses a Kubernetes quantity in Mi or m into a number of MiB or millicores. */
export function quantity(q: string): number {
  const m = /^(\d+)(Mi|m)$/.exec(q);
  if (!m) throw new Error(`unexpected quantity '${q}'`);
  return Number(m[1]);
}

/** A scratch copy of what `make synth` needs, sharing node_modules, so a test can break sizing.ts safely. */
export function scratchProject(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'boltlink-synth-'));
  // Of the service, only the config schema infra reads: a synth that needs more of it fails here.
  for (const f of ['Makefile', 'cdk8s.yaml', 'package.json', 'tsconfig.json', 'common', 'infra', 'charts-out']) {
    cpSync(path.join(ROOT, f), path.join(dir, f), { recursive: true });
  }
  cpSync(path.join(ROOT, 'service/src/config.ts'), path.join(dir, 'service/src/config.ts'));
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

/** This process's environment minus `names`, so a caller's make or shell variables cannot leak into a child. */
export function withoutVars(...names: string[]): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const n of names) delete env[n];
  return env;
}
