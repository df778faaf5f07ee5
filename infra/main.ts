import { App } from 'cdk8s';
import { BoltLinkChart } from './chart';
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
 * the NetworkPolicy admits to the API and metrics ports; the chart's props say the defaults).
 * The cluster-test environment mounts the fault-injection routes its test drives.
 * Also writes charts-out/monitoring/ (infra/monitoring/manifests.ts).
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
    faultInjection: environment === 'cluster-test',
  });
  app.synth();
  // charts-out/monitoring/: prometheus-operator objects, and the plain rule file, scrape job and dashboard JSON.
  synthMonitoring(app.outdir, chart.monitoring);
  for (const note of notes) process.stderr.write(`${note}\n`);
}

try {
  main();
} catch (err) {
  if (!(err instanceof SynthSettingsError || err instanceof SizingError)) throw err;
  process.stderr.write(`synth: ${err.message}\n`);
  process.exit(1);
}
