import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { dashboard } from '../monitoring/dashboard';
import { DASHBOARD_NAME } from '../names';
import type { Resolved } from './props';

/**
 * The Grafana dashboard, labelled for the dashboard sidecar of
 * kube-prometheus-stack (grafana_dashboard: "1"), which loads it from any
 * namespace it watches; elsewhere an unused ConfigMap
 * (charts-out/monitoring/grafana/ has the same JSON to import by hand).
 */
export class DashboardConfigMap extends Construct {
  constructor(scope: Construct, id: string, r: Resolved) {
    super(scope, id);
    new kplus.ConfigMap(this, 'dashboard', {
      metadata: { name: DASHBOARD_NAME, labels: { ...r.labels, grafana_dashboard: '1' } },
      data: { [`boltlink-${r.environment}.json`]: JSON.stringify(dashboard(r.sizing, r.environment)) },
    });
  }
}
