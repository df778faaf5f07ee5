import { Chart } from 'cdk8s';
import type * as kplus from 'cdk8s-plus-27';
import type { Construct } from 'constructs';
import type { MonitoringProps } from './monitoring/manifests';
import type { Sizing } from '../common/sizing';
import { BackendAutoscaler } from './chart/autoscaler';
import { BackendConfig } from './chart/config';
import { DashboardConfigMap } from './chart/dashboard-config-map';
import { BackendDeployment } from './chart/deployment';
import { BackendDisruptionBudget } from './chart/disruption-budget';
import { BackendHttpRoute } from './chart/http-route';
import { BackendIngress } from './chart/ingress';
import { ReleaseNamespace } from './chart/namespace';
import { BackendNetworkPolicy, DefaultDeny } from './chart/network-policy';
import { resolve, type BoltLinkChartProps, type Resolved } from './chart/props';
import { BackendService } from './chart/service';
import { BackendServiceAccount } from './chart/service-account';

export {
  CHANGE_CAUSE,
  DEFAULT_API_CLIENT_LABELS,
  DEFAULT_DATABASE_PORT,
  DEFAULT_DENY_NAME,
  DEFAULT_EDGE_CONTROLLER,
  DEFAULT_GATEWAY,
  DEFAULT_TLS_SECRET_NAME,
  EDGE_CONTROLLERS,
  ReleasePropsError,
  DEFAULT_METRICS_SCRAPER_LABELS,
  DEFAULT_REDIS_PORT,
  DNS_PORT,
  type BoltLinkChartProps,
  type EdgeControllerName,
  type GatewayRef,
} from './chart/props';
export { CERT_MANAGER_CLUSTER_ISSUER } from './chart/ingress';

/**
 * The BoltLink backend release: Deployment (PM2 cluster per pod, sized from
 * common/sizing.ts), Service, Ingress, ConfigMap, ServiceAccount, HPA, PDB and the
 * backend's NetworkPolicy; with a namespace of its own, also the Namespace
 * and a namespace-wide default deny. Secrets are referenced by name, never
 * created here. Each object is a construct of its own under infra/chart/,
 * built from the props resolved once (infra/chart/props.ts).
 */
export class BoltLinkChart extends Chart {
  readonly sizing: Sizing;
  readonly deployment: kplus.Deployment;
  /** What the monitoring of this release (infra/monitoring) selects and labels. */
  readonly monitoring: MonitoringProps;
  /** The props resolved: what the release's other charts (its HTTPRoute) are built from. */
  readonly resolved: Resolved;

  constructor(scope: Construct, id: string, props: BoltLinkChartProps) {
    super(scope, id, props);
    const r = resolve(props);
    this.resolved = r;
    this.sizing = r.sizing;
    this.monitoring = {
      environment: r.environment,
      sizing: r.sizing,
      selector: r.selector,
      labels: r.labels,
      namespace: r.namespace,
    };
    if (r.namespace) new ReleaseNamespace(this, 'namespace', r, r.namespace);
    const serviceAccount = new BackendServiceAccount(this, 'service-account', r).serviceAccount;
    const config = new BackendConfig(this, 'config', r).configMap;
    this.deployment = new BackendDeployment(this, 'deployment', r, serviceAccount, config);
    new BackendService(this, 'service', r);
    new BackendIngress(this, 'ingress', r);
    new BackendAutoscaler(this, 'hpa', r, this.deployment);
    new BackendDisruptionBudget(this, 'pdb', r);
    if (r.namespace) new DefaultDeny(this, 'default-deny', r);
    new BackendNetworkPolicy(this, 'network-policy', r);
    new DashboardConfigMap(this, 'dashboard', r);
  }
}

/**
 * The release's HTTPRoute, in a chart of its own (charts-out/gateway/, as
 * monitoring/ is): applied where the Gateway API's CRDs are installed, while
 * charts-out/ itself applies on any cluster.
 */
export class BoltLinkGatewayChart extends Chart {
  constructor(scope: Construct, id: string, release: BoltLinkChart) {
    super(scope, id, { namespace: release.resolved.namespace });
    new BackendHttpRoute(this, 'http-route', release.resolved);
  }
}
