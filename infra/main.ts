import { App } from 'cdk8s';
import { BoltLinkChart } from './chart';
import { synthMonitoring } from './monitoring/manifests';
import { imageRef } from './release';
import { ENVIRONMENTS, type EnvironmentName } from './sizing';

/**
 * The only file that synthesizes. `cdk8s synth` (or `make synth`) writes
 * charts-out/ for BOLTLINK_ENV (default prod). Reads, all optional:
 * BOLTLINK_ENV, IMAGE (default boltlink-backend), TAG (default v<package version>),
 * BOLTLINK_PUBLIC_BASE_URL and BOLTLINK_ALLOWED_ORIGINS (comma-separated) for the ConfigMap,
 * BOLTLINK_NAMESPACE (a namespace of the release's own: see the chart's `namespace` prop).
 * The cluster-test environment mounts the fault-injection routes its test drives.
 * Also writes charts-out/monitoring/ (infra/monitoring/manifests.ts).
 */
const environment = process.env.BOLTLINK_ENV || 'prod';
if (!(ENVIRONMENTS as string[]).includes(environment)) {
  throw new Error(`BOLTLINK_ENV '${environment}' is not one of ${ENVIRONMENTS.join(', ')}`);
}
const app = new App();
const chart = new BoltLinkChart(app, `boltlink-${environment}`, {
  environment: environment as EnvironmentName,
  image: imageRef(),
  publicBaseUrl: process.env.BOLTLINK_PUBLIC_BASE_URL || 'https://blt.example.com',
  allowedOrigins: (process.env.BOLTLINK_ALLOWED_ORIGINS || 'https://app.blt.example.com').split(',').filter(Boolean),
  namespace: process.env.BOLTLINK_NAMESPACE || undefined,
  faultInjection: environment === 'cluster-test',
});
app.synth();
// charts-out/monitoring/: prometheus-operator objects, and the plain rule file, scrape job and dashboard JSON.
synthMonitoring(app.outdir, chart.monitoring);
