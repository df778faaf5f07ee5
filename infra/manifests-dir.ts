import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { K8sObject } from './rules';

/** Every object of every YAML file directly in `dir`. */
export function readManifestDir(dir: string): K8sObject[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => parseAllDocuments(readFileSync(path.join(dir, f), 'utf8')).map((d) => d.toJSON() as K8sObject));
}

/** The folder the release's HTTPRoute is synthesized into, inside the release's own (infra/main.ts). */
export const GATEWAY_DIR = 'gateway';

/**
 * A synthesized release's objects (`dir`, then its gateway/ when there is one): the
 * rules check the edge's routes against the ConfigMap and Service they name.
 */
export function readRelease(dir: string): K8sObject[] {
  const gateway = path.join(dir, GATEWAY_DIR);
  return [...readManifestDir(dir), ...(existsSync(gateway) ? readManifestDir(gateway) : [])];
}
