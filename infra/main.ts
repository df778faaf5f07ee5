import { App } from 'cdk8s';
import path from 'node:path';
import {
  BoltLinkChart,
  BoltLinkGatewayChart,
  ReleasePropsError,
  type EdgeControllerName,
  type GatewayRef,
} from './chart';
import { GATEWAY_DIR } from './manifests-dir';
import { synthMonitoring } from './monitoring/manifests';
import { imageRef } from './release';
import { ENVIRONMENTS, SizingError, type EnvironmentName } from '../common/sizing';

/**
 * The only file that synthesizes. `cdk8s synth` (or `make synth`) writes
 * charts-out/ for BOLTLINK_ENV (default prod). Reads, all optional:
 * BOLTLINK_ENV, IMAGE (default boltlink-backend), TAG (default v<package version>),
 * BOLTLINK_PUBLIC_BASE_URL and BOLTLINK_ALLOWED_ORIGINS (comma-separated) for the ConfigMap,
 * BOLTLINK_NAMESPACE (a namespace of the release's own: see the chart's `namespace` prop),
 * BOLTLINK_API_CLIENT_LABELS and BOLTLINK_METRICS_SCRAPER_LABELS (`key=value,…`: the pod labels
 * the NetworkPolicy admits to the API and metrics ports; the chart's props say the defaults),
 * and the edge: BOLTLINK_EDGE_CONTROLLER (traefik or ingress-nginx), BOLTLINK_INGRESS_CLASS,
 * BOLTLINK_TLS_SECRET, BOLTLINK_CERT_MANAGER_CLUSTER_ISSUER and BOLTLINK_GATEWAY
 * (`[namespace/]name[#listener]`, the Gateway the HTTPRoute attaches to).
 * The cluster-test environment mounts the fault-injection routes its test drives.
 * Also writes charts-out/gateway/ (the HTTPRoute) and charts-out/monitoring/
 * (infra/monitoring/manifests.ts).
 */
/** The placeholders a release synthesized without setup carries, and the variable that replaces each. */
const PLACEHOLDERS = {
  BOLTLINK_PUBLIC_BASE_URL: 'https://blt.example.com',
  BOLTLINK_ALLOWED_ORIGINS: 'https://app.blt.example.com',
} as const;

/** A problem the person running synth fixes in their settings: one line, no stack trace. */
class SynthSettingsError extends Error {}

/** `key=value,…` as labels; undefined when unset. Every malformed pair of every key is named in one error. */
function labels(...names: string[]): (Record<string, string> | undefined)[] {
  const problems: string[] = [];
  const parsed = names.map((name) => {
    const raw = process.env[name];
    if (!raw) return undefined;
    const pairs = raw.split(',').map((pair) => pair.trim().split('='));
    for (const pair of pairs) {
      if (pair.length !== 2 || !pair[0] || !pair[1]) problems.push(`${name}: '${pair.join('=')}' is not key=value`);
    }
    return Object.fromEntries(pairs);
  });
  if (problems.length > 0) throw new SynthSettingsError(problems.join('; '));
  return parsed;
}

/** BOLTLINK_GATEWAY, `[namespace/]name[#listener]`; undefined when unset. */
function gatewayRef(): GatewayRef | undefined {
  const raw = process.env.BOLTLINK_GATEWAY;
  if (!raw) return undefined;
  const m = /^(?:([a-z0-9][a-z0-9-]*)\/)?([a-z0-9][a-z0-9.-]*)(?:#([a-z0-9][a-z0-9-]*))?$/.exec(raw);
  if (!m) throw new SynthSettingsError(`BOLTLINK_GATEWAY: '${raw}' is not [namespace/]name[#listener]`);
  return { name: m[2]!, ...(m[1] ? { namespace: m[1] } : {}), ...(m[3] ? { sectionName: m[3] } : {}) };
}

/** A setting from the environment, or its placeholder (then noted on the last lines of make synth). */
function setting(name: keyof typeof PLACEHOLDERS, notes: string[]): string {
  const value = process.env[name];
  if (value) return value;
  notes.push(`note: ${PLACEHOLDERS[name]} is a placeholder: set ${name} before make synth for a real release`);
  return PLACEHOLDERS[name];
}

function main(): void {
  const environment = process.env.BOLTLINK_ENV || 'prod';
  if (!(ENVIRONMENTS as string[]).includes(environment)) {
    throw new SynthSettingsError(`BOLTLINK_ENV '${environment}' is not one of ${ENVIRONMENTS.join(', ')}`);
  }
  const [apiClientLabels, metricsScraperLabels] = labels(
    'BOLTLINK_API_CLIENT_LABELS',
    'BOLTLINK_METRICS_SCRAPER_LABELS',
  );
  const notes: string[] = [];
  const app = new App();
  const chart = new BoltLinkChart(app, `boltlink-${environment}`, {
    environment: environment as EnvironmentName,
    image: imageRef(),
    publicBaseUrl: setting('BOLTLINK_PUBLIC_BASE_URL', notes),
    allowedOrigins: setting('BOLTLINK_ALLOWED_ORIGINS', notes).split(',').filter(Boolean),
    namespace: process.env.BOLTLINK_NAMESPACE || undefined,
    apiClientLabels,
    metricsScraperLabels,
    edgeController: (process.env.BOLTLINK_EDGE_CONTROLLER || undefined) as EdgeControllerName | undefined,
    ingressClassName: process.env.BOLTLINK_INGRESS_CLASS || undefined,
    tlsSecretName: process.env.BOLTLINK_TLS_SECRET || undefined,
    certManagerClusterIssuer: process.env.BOLTLINK_CERT_MANAGER_CLUSTER_ISSUER || undefined,
    gateway: gatewayRef(),
    faultInjection: environment === 'cluster-test',
  });
  app.synth();
  // charts-out/gateway/: the HTTPRoute, for clusters with the Gateway API's CRDs.
  const gateway = new App({ outdir: path.join(app.outdir, GATEWAY_DIR) });
  new BoltLinkGatewayChart(gateway, `boltlink-${environment}-gateway`, chart);
  gateway.synth();
  // charts-out/monitoring/: prometheus-operator objects, and the plain rule file, scrape job and dashboard JSON.
  synthMonitoring(app.outdir, chart.monitoring);
  for (const note of notes) process.stderr.write(`${note}\n`);
}

try {
  main();
} catch (err) {
  if (!(err instanceof SynthSettingsError || err instanceof SizingError || err instanceof ReleasePropsError)) throw err;
  process.stderr.write(`synth: ${err.message}\n`);
  process.exit(1);
}
