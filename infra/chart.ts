import { ApiObject, Chart, Duration, JsonPatch, Size, type ChartProps } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import type { Construct } from 'constructs';
import { APP_GID, APP_UID, DEFAULT_METRICS_PORT, DEFAULT_PORT, PM2_HOME, SCRATCH_DIR } from '../common/contract';
import { dashboard } from './monitoring/dashboard';
import { METRICS_PORT_NAME, type MonitoringProps } from './monitoring/manifests';
import { CONFIG_NAME, CONTAINER_NAME, DASHBOARD_NAME, DEPLOYMENT_NAME } from './names';
import { RESTRICTED_NAMESPACE_LABELS } from './pod-security';
import { sizingFor, type EnvironmentName, type Sizing } from '../common/sizing';

export interface BoltLinkChartProps extends ChartProps {
  /**
   * The sizing environment (common/sizing.ts) this release is sized for.
   * @default 'prod'
   */
  readonly environment?: EnvironmentName;
  /** Full image reference, `repository:tag`. Never `latest`: a rollout must name what it runs. */
  readonly image: string;
  /** Public origin of short links (PUBLIC_BASE_URL). */
  readonly publicBaseUrl: string;
  /**
   * CORS allow-list for the API (ALLOWED_ORIGINS).
   * @default [] (no cross-origin browser access)
   */
  readonly allowedOrigins?: readonly string[];
  /**
   * A namespace of the release's own. When set, the chart emits that
   * Namespace with the Pod Security labels (restricted: enforce, warn and
   * audit), puts every object in it, and adds a namespace-wide default-deny
   * NetworkPolicy — safe only because nothing else lives there.
   * @default none: objects carry no namespace (kubectl's current one applies),
   * and only the backend's own NetworkPolicy restricts its own pods, so other
   * pods of a shared namespace are never cut off.
   * @see https://kubernetes.io/docs/concepts/security/pod-security-admission/
   */
  readonly namespace?: string;
  /**
   * Secret holding the PostgreSQL URL under key `url`.
   * @default 'db-secrets'
   */
  readonly databaseSecretName?: string;
  /**
   * Secret holding the Redis URL under key `url`.
   * @default 'redis-secrets'
   */
  readonly redisSecretName?: string;
  /**
   * Secret holding the comma-separated API tokens under key `tokens`.
   * @default 'boltlink-api-tokens'
   */
  readonly apiTokensSecretName?: string;
  /**
   * Port the pods may reach PostgreSQL on (NetworkPolicy egress).
   * @default DEFAULT_DATABASE_PORT (5432)
   */
  readonly databasePort?: number;
  /**
   * Port the pods may reach Redis on (NetworkPolicy egress).
   * @default DEFAULT_REDIS_PORT (6379)
   */
  readonly redisPort?: number;
  /**
   * Proxies in front of the Service whose X-Forwarded-For names the client:
   * the per-client rate limit counts that address. With 0 behind an
   * ingress, every client would share the ingress's address and one limit.
   * @default 1 (one ingress controller)
   */
  readonly trustProxyHops?: number;
  /**
   * Who may call the API port (NetworkPolicy ingress): pods with these
   * labels, in any namespace. Kubelet probes come from the node, which
   * NetworkPolicy implementations let through.
   * @default DEFAULT_API_CLIENT_LABELS: the ingress-nginx controller's pods
   * (trustProxyHops assumes one ingress in front)
   * @see https://kubernetes.io/docs/concepts/services-networking/network-policies/
   */
  readonly apiClientLabels?: Readonly<Record<string, string>>;
  /**
   * Who may scrape the metrics port: pods with these labels, in any namespace.
   * @default DEFAULT_METRICS_SCRAPER_LABELS: prometheus-operator's Prometheus
   * pods, which the release's PodMonitor (charts-out/monitoring) configures
   */
  readonly metricsScraperLabels?: Readonly<Record<string, string>>;
  /**
   * Mounts the service's test-only fault routes (FAULT_INJECTION, with
   * NODE_ENV=test, since production refuses them): the cluster test blocks an
   * event loop and fails a readiness probe through them. Refused for prod.
   * @default false
   */
  readonly faultInjection?: boolean;
}

/** The API's clients unless apiClientLabels says otherwise: ingress-nginx's controller pods (its chart's labels). */
export const DEFAULT_API_CLIENT_LABELS: Readonly<Record<string, string>> = {
  'app.kubernetes.io/name': 'ingress-nginx',
};
/** Who scrapes the metrics port unless metricsScraperLabels says otherwise: prometheus-operator's Prometheus pods. */
export const DEFAULT_METRICS_SCRAPER_LABELS: Readonly<Record<string, string>> = {
  'app.kubernetes.io/name': 'prometheus',
};

/** PostgreSQL's and Redis's ports unless databasePort and redisPort say otherwise (the NetworkPolicy's egress). */
export const DEFAULT_DATABASE_PORT = 5432;
export const DEFAULT_REDIS_PORT = 6379;

/** The annotation `kubectl rollout history` reads a revision's cause from (Makefile's rollout target sets it too). */
export const CHANGE_CAUSE = 'kubernetes.io/change-cause';

/** In the image (Dockerfile copies service/bin). */
export const MIGRATE_THEN_SERVE = 'service/bin/migrate-then-serve.sh';
/** The namespace-wide deny-all NetworkPolicy, emitted only for a release with a namespace of its own. */
export const DEFAULT_DENY_NAME = 'default-deny';
const HTTP_PORT_NAME = 'http';
const SERVICE_PORT = 80;
/** DNS, which the pods may always reach (NetworkPolicy egress). */
export const DNS_PORT = 53;

/** An HTTP GET probe on the API port with the sizing's timings. */
const httpProbe = (path: string, t: Sizing['livenessProbe']) =>
  kplus.Probe.fromHttpGet(path, {
    port: DEFAULT_PORT,
    periodSeconds: Duration.seconds(t.periodSeconds),
    timeoutSeconds: Duration.seconds(t.timeoutSeconds),
    failureThreshold: t.failureThreshold,
    initialDelaySeconds: Duration.seconds(0),
  });

/** Every prop with its default applied, and what follows from them: resolved once, before any object is built. */
interface Resolved {
  readonly environment: EnvironmentName;
  readonly sizing: Sizing;
  readonly image: string;
  readonly tag: string;
  readonly namespace: string | undefined;
  readonly selector: Record<string, string>;
  readonly labels: Record<string, string>;
  readonly config: Record<string, string>;
  readonly secrets: { readonly database: string; readonly redis: string; readonly apiTokens: string };
  readonly egressPorts: { readonly database: number; readonly redis: number };
  /** Pod labels of the API's clients and of the metrics scrapers (NetworkPolicy ingress). */
  readonly clients: {
    readonly api: Readonly<Record<string, string>>;
    readonly metrics: Readonly<Record<string, string>>;
  };
}

function resolve(props: BoltLinkChartProps): Resolved {
  const environment = props.environment ?? 'prod';
  const sizing = sizingFor(environment);
  const tag = props.image.slice(props.image.lastIndexOf(':') + 1);
  if (!props.image.includes(':') || tag === 'latest' || tag.includes('/')) {
    throw new Error(`image '${props.image}' must be repository:tag with a tag other than 'latest'`);
  }
  const faultInjection = props.faultInjection ?? false;
  if (faultInjection && environment === 'prod') {
    throw new Error(`faultInjection (true) is refused for environment 'prod'`);
  }
  const selector = {
    'app.kubernetes.io/name': DEPLOYMENT_NAME,
    'app.kubernetes.io/instance': `boltlink-${environment}`,
  };
  return {
    environment,
    sizing,
    image: props.image,
    tag,
    namespace: props.namespace,
    selector,
    labels: {
      ...selector,
      'app.kubernetes.io/version': tag,
      'app.kubernetes.io/component': 'api',
      'app.kubernetes.io/part-of': 'boltlink',
      'app.kubernetes.io/managed-by': 'cdk8s',
    },
    config: {
      NODE_ENV: faultInjection ? 'test' : 'production',
      PORT: String(DEFAULT_PORT),
      PUBLIC_BASE_URL: props.publicBaseUrl,
      ALLOWED_ORIGINS: (props.allowedOrigins ?? []).join(','),
      LOG_LEVEL: 'info',
      TRUST_PROXY_HOPS: String(props.trustProxyHops ?? 1),
      PM2_HOME,
      BOLTLINK_SIZING: environment,
      ...(faultInjection ? { FAULT_INJECTION: 'true' } : {}),
    },
    secrets: {
      database: props.databaseSecretName ?? 'db-secrets',
      redis: props.redisSecretName ?? 'redis-secrets',
      apiTokens: props.apiTokensSecretName ?? 'boltlink-api-tokens',
    },
    egressPorts: {
      database: props.databasePort ?? DEFAULT_DATABASE_PORT,
      redis: props.redisPort ?? DEFAULT_REDIS_PORT,
    },
    clients: {
      api: props.apiClientLabels ?? DEFAULT_API_CLIENT_LABELS,
      metrics: props.metricsScraperLabels ?? DEFAULT_METRICS_SCRAPER_LABELS,
    },
  };
}

/**
 * The BoltLink backend release: Deployment (PM2 cluster per pod, sized from
 * common/sizing.ts), Service, ConfigMap, ServiceAccount, HPA, PDB and the
 * backend's NetworkPolicy; with a namespace of its own, also the Namespace
 * and a namespace-wide default deny. Secrets are referenced by name, never
 * created here.
 */
export class BoltLinkChart extends Chart {
  readonly sizing: Sizing;
  readonly deployment: kplus.Deployment;
  /** What the monitoring of this release (infra/monitoring) selects and labels. */
  readonly monitoring: MonitoringProps;

  constructor(scope: Construct, id: string, props: BoltLinkChartProps) {
    super(scope, id, props);
    const r = resolve(props);
    this.sizing = r.sizing;
    this.monitoring = {
      environment: r.environment,
      sizing: r.sizing,
      selector: r.selector,
      labels: r.labels,
      namespace: r.namespace,
    };
    if (r.namespace) this.namespaceObject(r, r.namespace);
    const serviceAccount = new kplus.ServiceAccount(this, 'service-account', {
      metadata: this.meta(r, DEPLOYMENT_NAME),
      automountToken: false,
    });
    const config = new kplus.ConfigMap(this, 'config', {
      metadata: this.meta(r, CONFIG_NAME),
      data: r.config,
    });
    this.deployment = this.deploymentObject(r, serviceAccount, config);
    this.serviceObject(r);
    this.autoscaler(r);
    this.disruptionBudget(r);
    if (r.namespace) this.defaultDeny(r);
    this.networkPolicy(r);
    this.dashboardConfigMap(r);
  }

  private meta(r: Resolved, name: string) {
    return { name, labels: r.labels };
  }

  /**
   * The Grafana dashboard, labelled for the dashboard sidecar of
   * kube-prometheus-stack (grafana_dashboard: "1"), which loads it from any
   * namespace it watches; elsewhere an unused ConfigMap
   * (charts-out/monitoring/grafana/ has the same JSON to import by hand).
   */
  private dashboardConfigMap(r: Resolved): void {
    new kplus.ConfigMap(this, 'dashboard', {
      metadata: { name: DASHBOARD_NAME, labels: { ...r.labels, grafana_dashboard: '1' } },
      data: { [`boltlink-${r.environment}.json`]: JSON.stringify(dashboard(r.sizing, r.environment)) },
    });
  }

  private namespaceObject(r: Resolved, name: string): void {
    const ns = new kplus.k8s.KubeNamespace(this, 'namespace', {
      metadata: { name, labels: { ...r.labels, ...RESTRICTED_NAMESPACE_LABELS } },
    });
    // A Namespace is cluster-scoped: the chart-wide namespace must not be written into it.
    ns.addJsonPatch(JsonPatch.remove('/metadata/namespace'));
  }

  private deploymentObject(r: Resolved, serviceAccount: kplus.ServiceAccount, config: kplus.ConfigMap) {
    const s = r.sizing;
    const deployment = new kplus.Deployment(this, 'deployment', {
      metadata: {
        ...this.meta(r, DEPLOYMENT_NAME),
        // What `kubectl rollout history` shows for a revision `kubectl apply` makes (make rollout writes its own).
        annotations: { [CHANGE_CAUSE]: `image ${r.image} (kubectl apply)` },
      },
      // Scrape annotations: one /metrics per pod, aggregated over its PM2 workers, on a port the
      // Service does not expose. (With prometheus-operator, a PodMonitor on port 'metrics' does the same.)
      podMetadata: {
        labels: r.labels,
        annotations: {
          'prometheus.io/scrape': 'true',
          'prometheus.io/port': String(DEFAULT_METRICS_PORT),
          'prometheus.io/path': '/metrics',
        },
      },
      select: false,
      spread: false,
      isolate: false,
      serviceAccount,
      automountServiceAccountToken: false,
      securityContext: { ensureNonRoot: true, user: APP_UID, group: APP_GID, fsGroup: APP_GID },
      terminationGracePeriod: Duration.seconds(s.terminationGracePeriodSeconds),
      strategy: kplus.DeploymentStrategy.rollingUpdate({
        maxSurge: kplus.PercentOrAbsolute.absolute(s.maxSurgePods),
        maxUnavailable: kplus.PercentOrAbsolute.absolute(0),
      }),
      containers: [this.backendContainer(r, config)],
    });
    deployment.select(kplus.LabelSelector.of({ labels: r.selector }));
    this.patchPodSpec(deployment, r);
    return deployment;
  }

  /** The one container: pm2-runtime after the migration, its ports, env, resources, hardening, scratch and probes. */
  private backendContainer(r: Resolved, config: kplus.ConfigMap): kplus.ContainerProps {
    const s = r.sizing;
    const scratch = kplus.Volume.fromEmptyDir(this, 'scratch', 'scratch', { sizeLimit: Size.mebibytes(s.scratchMiB) });
    return {
      name: CONTAINER_NAME,
      image: r.image,
      // cdk8s-plus-27 defaults to Always, which asks the registry at every pod start (a registry
      // outage then blocks scale-ups and restarts). Tags here are pinned and never 'latest'.
      imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
      // Migrate, then exec pm2-runtime: see service/bin/migrate-then-serve.sh for why not an init container.
      command: [MIGRATE_THEN_SERVE],
      ports: [
        { number: DEFAULT_PORT, name: HTTP_PORT_NAME },
        { number: DEFAULT_METRICS_PORT, name: METRICS_PORT_NAME },
      ],
      envVariables: this.containerEnv(r),
      envFrom: [kplus.Env.fromConfigMap(config)],
      // cdk8s-plus-27 has hidden defaults for both: every value is set here.
      resources: {
        cpu: { request: kplus.Cpu.millis(s.cpuRequestMilli), limit: kplus.Cpu.millis(s.cpuLimitMilli) },
        memory: { request: Size.mebibytes(s.memoryRequestMiB), limit: Size.mebibytes(s.memoryLimitMiB) },
      },
      securityContext: {
        ensureNonRoot: true,
        user: APP_UID,
        group: APP_GID,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        privileged: false,
        // cdk8s-plus-27's Capability enum has no ALL (only CAP_* names), but Kubernetes spells it 'ALL'.
        capabilities: { drop: ['ALL' as kplus.Capability] },
      },
      volumeMounts: [{ path: SCRATCH_DIR, volume: scratch }],
      startup: httpProbe('/livez', s.startupProbe),
      liveness: httpProbe('/livez', s.livenessProbe),
      readiness: httpProbe('/ready', s.readinessProbe),
      ...(s.preStopDelaySeconds > 0
        ? { lifecycle: { preStop: kplus.Handler.fromCommand(['sleep', String(s.preStopDelaySeconds)]) } }
        : {}),
    };
  }

  /** The worker count, and the secrets' values by reference (the chart never holds one). */
  private containerEnv(r: Resolved): Record<string, kplus.EnvValue> {
    const secretEnv = (secretName: string, key: string) =>
      kplus.EnvValue.fromSecretValue({
        secret: kplus.Secret.fromSecretName(this, `secret-${secretName}-${key}`, secretName),
        key,
      });
    return {
      PM2_INSTANCES: kplus.EnvValue.fromValue(String(r.sizing.pm2Instances)),
      DATABASE_URL: secretEnv(r.secrets.database, 'url'),
      REDIS_URL: secretEnv(r.secrets.redis, 'url'),
      API_TOKENS: secretEnv(r.secrets.apiTokens, 'tokens'),
    };
  }

  /** What cdk8s-plus-27 cannot say: ephemeral storage in MiB, the seccomp profile, preferred spreading. */
  private patchPodSpec(deployment: kplus.Deployment, r: Resolved): void {
    const s = r.sizing;
    // cdk8s-plus-27 renders ephemeral storage only in whole GiB and has no seccompProfile.
    // Patches apply before the typed serializer, which reads a Quantity's `.value`.
    const container = '/spec/template/spec/containers/0';
    ApiObject.of(deployment).addJsonPatch(
      JsonPatch.add(
        `${container}/resources/requests/ephemeral-storage`,
        kplus.k8s.Quantity.fromString(`${s.ephemeralStorageRequestMiB}Mi`),
      ),
      JsonPatch.add(
        `${container}/resources/limits/ephemeral-storage`,
        kplus.k8s.Quantity.fromString(`${s.ephemeralStorageLimitMiB}Mi`),
      ),
      JsonPatch.add('/spec/template/spec/securityContext/seccompProfile', { type: 'RuntimeDefault' }),
      // cdk8s-plus `spread` emits required anti-affinity; spreading should prefer, not block scheduling.
      JsonPatch.add(
        '/spec/template/spec/topologySpreadConstraints',
        ['kubernetes.io/hostname', 'topology.kubernetes.io/zone'].map((topologyKey) => ({
          maxSkew: 1,
          topologyKey,
          whenUnsatisfiable: 'ScheduleAnyway',
          labelSelector: { matchLabels: r.selector },
        })),
      ),
    );
  }

  private serviceObject(r: Resolved): void {
    const service = new kplus.Service(this, 'service', {
      metadata: this.meta(r, DEPLOYMENT_NAME),
      type: kplus.ServiceType.CLUSTER_IP,
      ports: [{ name: HTTP_PORT_NAME, port: SERVICE_PORT, targetPort: DEFAULT_PORT, protocol: kplus.Protocol.TCP }],
    });
    for (const [key, value] of Object.entries(r.selector)) service.selectLabel(key, value);
  }

  private autoscaler(r: Resolved): void {
    new kplus.HorizontalPodAutoscaler(this, 'hpa', {
      metadata: this.meta(r, DEPLOYMENT_NAME),
      target: this.deployment,
      minReplicas: r.sizing.minReplicas,
      maxReplicas: r.sizing.maxReplicas,
      metrics: [kplus.Metric.resourceCpu(kplus.MetricTarget.averageUtilization(r.sizing.hpaCpuUtilizationPercent))],
      scaleDown: { stabilizationWindow: Duration.seconds(r.sizing.scaleDownStabilizationSeconds) },
    });
  }

  private disruptionBudget(r: Resolved): void {
    new kplus.k8s.KubePodDisruptionBudget(this, 'pdb', {
      metadata: this.meta(r, DEPLOYMENT_NAME),
      spec: {
        // One pod at a time: always compatible with minReplicas, even at 1.
        maxUnavailable: kplus.k8s.IntOrString.fromNumber(1),
        selector: { matchLabels: r.selector },
        unhealthyPodEvictionPolicy: 'AlwaysAllow',
      },
    });
  }

  /** Every pod of the namespace: only for a namespace the release owns, or it would cut off its neighbours. */
  private defaultDeny(r: Resolved): void {
    new kplus.k8s.KubeNetworkPolicy(this, 'default-deny', {
      metadata: this.meta(r, DEFAULT_DENY_NAME),
      spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] },
    });
  }

  /**
   * The backend's pods: ingress to the API port from its clients and to the
   * metrics port from the scrapers, each selected by pod labels in any
   * namespace; egress to DNS, PostgreSQL and Redis only.
   */
  private networkPolicy(r: Resolved): void {
    const tcp = (port: number) => ({ protocol: 'TCP', port: kplus.k8s.IntOrString.fromNumber(port) });
    const podsLabelled = (labels: Readonly<Record<string, string>>) => ({
      namespaceSelector: {},
      podSelector: { matchLabels: { ...labels } },
    });
    new kplus.k8s.KubeNetworkPolicy(this, 'network-policy', {
      metadata: this.meta(r, DEPLOYMENT_NAME),
      spec: {
        podSelector: { matchLabels: r.selector },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [
          { from: [podsLabelled(r.clients.api)], ports: [tcp(DEFAULT_PORT)] },
          { from: [podsLabelled(r.clients.metrics)], ports: [tcp(DEFAULT_METRICS_PORT)] },
        ],
        egress: [
          { ports: [{ protocol: 'UDP', port: kplus.k8s.IntOrString.fromNumber(DNS_PORT) }, tcp(DNS_PORT)] },
          { ports: [tcp(r.egressPorts.database)] },
          { ports: [tcp(r.egressPorts.redis)] },
        ],
      },
    });
  }
}
