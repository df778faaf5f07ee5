import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ApiObject, App, Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import { stringify } from 'yaml';
import { DEPLOYMENT_NAME } from '../names';
import type { Sizing } from '../../common/sizing';
import { ruleGroups } from './alerts';
import { dashboard } from './dashboard';
import { JOB } from './queries';

/** The pods' metrics port name (the chart names the container port so) and path. */
export const METRICS_PORT_NAME = 'metrics';
export const METRICS_PATH = '/metrics';
export const SCRAPE_INTERVAL = '30s';

export interface MonitoringProps {
  readonly environment: string;
  readonly sizing: Sizing;
  /** The release's pod selector and labels (the chart's). */
  readonly selector: Record<string, string>;
  readonly labels: Record<string, string>;
  readonly namespace?: string;
}

/**
 * prometheus-operator's objects for the release: a PodMonitor that scrapes
 * each pod's aggregated /metrics with `job` taken from the pods' name label
 * (what every query selects), and a PrometheusRule with the alerts and SLO
 * recording rules. Written to charts-out/monitoring/ (`kubectl apply -f
 * charts-out` does not recurse, so a cluster without the operator's CRDs never
 * sees them).
 */
export class MonitoringChart extends Chart {
  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id, { namespace: props.namespace, disableResourceNameHashes: true });
    const metadata = { name: DEPLOYMENT_NAME, labels: props.labels };
    new ApiObject(this, 'pod-monitor', {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PodMonitor',
      metadata,
      spec: {
        jobLabel: 'app.kubernetes.io/name',
        selector: { matchLabels: props.selector },
        podMetricsEndpoints: [{ port: METRICS_PORT_NAME, path: METRICS_PATH, interval: SCRAPE_INTERVAL }],
      },
    });
    new ApiObject(this, 'prometheus-rule', {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata,
      spec: { groups: ruleGroups(props.sizing) },
    });
  }
}

/** The rules as a plain Prometheus rule file (rule_files:), for Prometheus without the operator. */
export const ruleFile = (s: Sizing) => stringify({ groups: ruleGroups(s) }, { lineWidth: 0 });

/**
 * A scrape job for Prometheus without the operator (kubernetes_sd over the
 * release's pods, their `metrics` port), labelling series as the PodMonitor
 * does: job, namespace, pod.
 */
export function scrapeConfig(selector: Record<string, string>): string {
  const keep = Object.entries(selector).map(([label, value]) => ({
    source_labels: [`__meta_kubernetes_pod_label_${label.replace(/[^a-zA-Z0-9_]/g, '_')}`],
    regex: value,
    action: 'keep',
  }));
  return stringify(
    {
      scrape_configs: [
        {
          job_name: JOB,
          scrape_interval: SCRAPE_INTERVAL,
          metrics_path: METRICS_PATH,
          kubernetes_sd_configs: [{ role: 'pod' }],
          relabel_configs: [
            ...keep,
            { source_labels: ['__meta_kubernetes_pod_container_port_name'], regex: METRICS_PORT_NAME, action: 'keep' },
            { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
            { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
          ],
        },
      ],
    },
    { lineWidth: 0 },
  );
}

/**
 * Everything under <outdir>/monitoring/: the operator's objects (applied with
 * `kubectl apply -f charts-out/monitoring`), and in subfolders kubectl does
 * not read, the plain rule file, the scrape job and the dashboard's JSON.
 */
export function synthMonitoring(outdir: string, props: MonitoringProps): void {
  const dir = path.join(outdir, 'monitoring');
  const app = new App({ outdir: dir });
  new MonitoringChart(app, `boltlink-${props.environment}-monitoring`, props);
  app.synth();
  mkdirSync(path.join(dir, 'prometheus'), { recursive: true });
  writeFileSync(path.join(dir, 'prometheus', 'boltlink-rules.yaml'), ruleFile(props.sizing));
  writeFileSync(path.join(dir, 'prometheus', 'scrape-config.yaml'), scrapeConfig(props.selector));
  mkdirSync(path.join(dir, 'grafana'), { recursive: true });
  writeFileSync(
    path.join(dir, 'grafana', `boltlink-${props.environment}.json`),
    `${JSON.stringify(dashboard(props.sizing, props.environment), null, 2)}\n`,
  );
}
