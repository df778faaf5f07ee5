import { ApiObject, Chart, Duration, JsonPatch, Size, type ChartProps } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import type { Construct } from 'constructs';
import { DEFAULT_METRICS_PORT, DEFAULT_PORT } from '../service/src/config';
import { APP_GID, APP_UID, PM2_HOME, SCRATCH_DIR } from './image';
import { sizingFor, type EnvironmentName, type Sizing } from './sizing';

export interface BoltLinkChartProps extends ChartProps {
  /**
   * The sizing environment (infra/sizing.ts) this release is sized for.
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
   * Ports the pods may reach PostgreSQL and Redis on (NetworkPolicy egress).
   * @default 5432 and 6379
   */
  readonly databasePort?: number;
  readonly redisPort?: number;
  /**
   * Proxies in front of the Service whose X-Forwarded-For names the client:
   * the per-client rate limit counts that address. With 0 behind an
   * ingress, every client would share the ingress's address and one limit.
   * @default 1 (one ingress controller)
   */
  readonly trustProxyHops?: number;
}

/** Names the operations guide uses verbatim: `kubectl set image deployment/boltlink-backend backend=…`. */
export const DEPLOYMENT_NAME = 'boltlink-backend';
export const CONTAINER_NAME = 'backend';
/** In the image (Dockerfile copies service/bin). */
export const MIGRATE_THEN_SERVE = 'service/bin/migrate-then-serve.sh';
const HTTP_PORT_NAME = 'http';
const METRICS_PORT_NAME = 'metrics';
const SERVICE_PORT = 80;
const DNS_PORT = 53;

/**
 * The BoltLink backend release: Deployment (PM2 cluster per pod, sized from
 * infra/sizing.ts), Service, ConfigMap, ServiceAccount, HPA, PDB and
 * NetworkPolicies (default deny for the namespace, then the backend's
 * allows). Secrets are referenced by name, never created here.
 */
export class BoltLinkChart extends Chart {
  readonly sizing: Sizing;
  readonly deployment: kplus.Deployment;

  constructor(scope: Construct, id: string, props: BoltLinkChartProps) {
    super(scope, id, props);
    const environment = props.environment ?? 'prod';
    const s = (this.sizing = sizingFor(environment));
    const tag = props.image.slice(props.image.lastIndexOf(':') + 1);
    if (!props.image.includes(':') || tag === 'latest' || tag.includes('/')) {
      throw new Error(`image '${props.image}' must be repository:tag with a tag other than 'latest'`);
    }

    const selector = {
      'app.kubernetes.io/name': DEPLOYMENT_NAME,
      'app.kubernetes.io/instance': `boltlink-${environment}`,
    };
    const labels = {
      ...selector,
      'app.kubernetes.io/version': tag,
      'app.kubernetes.io/component': 'api',
      'app.kubernetes.io/part-of': 'boltlink',
      'app.kubernetes.io/managed-by': 'cdk8s',
    };
    const meta = (name: string) => ({ name, labels });

    const serviceAccount = new kplus.ServiceAccount(this, 'service-account', {
      metadata: meta(DEPLOYMENT_NAME),
      automountToken: false,
    });

    const config = new kplus.ConfigMap(this, 'config', {
      metadata: meta(`${DEPLOYMENT_NAME}-config`),
      data: {
        NODE_ENV: 'production',
        PORT: String(DEFAULT_PORT),
        PUBLIC_BASE_URL: props.publicBaseUrl,
        ALLOWED_ORIGINS: (props.allowedOrigins ?? []).join(','),
        LOG_LEVEL: 'info',
        TRUST_PROXY_HOPS: String(props.trustProxyHops ?? 1),
        PM2_HOME,
        BOLTLINK_SIZING: environment,
      },
    });

    const secretEnv = (secretName: string, key: string) =>
      kplus.EnvValue.fromSecretValue({
        secret: kplus.Secret.fromSecretName(this, `secret-${secretName}-${key}`, secretName),
        key,
      });
    const env = {
      PM2_INSTANCES: kplus.EnvValue.fromValue(String(s.pm2Instances)),
      DATABASE_URL: secretEnv(props.databaseSecretName ?? 'db-secrets', 'url'),
      REDIS_URL: secretEnv(props.redisSecretName ?? 'redis-secrets', 'url'),
      API_TOKENS: secretEnv(props.apiTokensSecretName ?? 'boltlink-api-tokens', 'tokens'),
    };

    const resources: kplus.ContainerResources = {
      cpu: { request: kplus.Cpu.millis(s.cpuRequestMilli), limit: kplus.Cpu.millis(s.cpuLimitMilli) },
      memory: { request: Size.mebibytes(s.memoryRequestMiB), limit: Size.mebibytes(s.memoryLimitMiB) },
    };
    const securityContext: kplus.ContainerSecurityContextProps = {
      ensureNonRoot: true,
      user: APP_UID,
      group: APP_GID,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      // cdk8s-plus-27's Capability enum has no ALL (only CAP_* names), but Kubernetes spells it 'ALL'.
      capabilities: { drop: ['ALL' as kplus.Capability] },
    };
    const scratch = kplus.Volume.fromEmptyDir(this, 'scratch', 'scratch', { sizeLimit: Size.mebibytes(s.scratchMiB) });
    const probe = (path: string, t: Sizing['livenessProbe']) =>
      kplus.Probe.fromHttpGet(path, {
        port: DEFAULT_PORT,
        periodSeconds: Duration.seconds(t.periodSeconds),
        timeoutSeconds: Duration.seconds(t.timeoutSeconds),
        failureThreshold: t.failureThreshold,
        initialDelaySeconds: Duration.seconds(0),
      });

    this.deployment = new kplus.Deployment(this, 'deployment', {
      metadata: meta(DEPLOYMENT_NAME),
      // Scrape annotations: one /metrics per pod, aggregated over its PM2 workers, on a port the
      // Service does not expose. (With prometheus-operator, a PodMonitor on port 'metrics' does the same.)
      podMetadata: {
        labels,
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
      containers: [
        {
          name: CONTAINER_NAME,
          image: props.image,
          // Migrate, then exec pm2-runtime: see service/bin/migrate-then-serve.sh for why not an init container.
          command: [MIGRATE_THEN_SERVE],
          ports: [
            { number: DEFAULT_PORT, name: HTTP_PORT_NAME },
            { number: DEFAULT_METRICS_PORT, name: METRICS_PORT_NAME },
          ],
          envVariables: env,
          envFrom: [kplus.Env.fromConfigMap(config)],
          resources,
          securityContext,
          volumeMounts: [{ path: SCRATCH_DIR, volume: scratch }],
          startup: probe('/livez', s.startupProbe),
          liveness: probe('/livez', s.livenessProbe),
          readiness: probe('/ready', s.readinessProbe),
          ...(s.preStopDelaySeconds > 0
            ? { lifecycle: { preStop: kplus.Handler.fromCommand(['sleep', String(s.preStopDelaySeconds)]) } }
            : {}),
        },
      ],
    });
    this.deployment.select(kplus.LabelSelector.of({ labels: selector }));
    const deploymentObject = ApiObject.of(this.deployment);
    // cdk8s-plus-27 renders ephemeral storage only in whole GiB and has no seccompProfile.
    const ephemeral = (path: string) => [
      // Patches apply before the typed serializer, which reads a Quantity's `.value`.
      JsonPatch.add(
        `${path}/resources/requests/ephemeral-storage`,
        kplus.k8s.Quantity.fromString(`${s.ephemeralStorageRequestMiB}Mi`),
      ),
      JsonPatch.add(
        `${path}/resources/limits/ephemeral-storage`,
        kplus.k8s.Quantity.fromString(`${s.ephemeralStorageLimitMiB}Mi`),
      ),
    ];
    deploymentObject.addJsonPatch(
      ...ephemeral('/spec/template/spec/containers/0'),
      JsonPatch.add('/spec/template/spec/securityContext/seccompProfile', { type: 'RuntimeDefault' }),
      // cdk8s-plus `spread` emits required anti-affinity; spreading should prefer, not block scheduling.
      JsonPatch.add(
        '/spec/template/spec/topologySpreadConstraints',
        ['kubernetes.io/hostname', 'topology.kubernetes.io/zone'].map((topologyKey) => ({
          maxSkew: 1,
          topologyKey,
          whenUnsatisfiable: 'ScheduleAnyway',
          labelSelector: { matchLabels: selector },
        })),
      ),
    );

    const service = new kplus.Service(this, 'service', {
      metadata: meta(DEPLOYMENT_NAME),
      type: kplus.ServiceType.CLUSTER_IP,
      ports: [{ name: HTTP_PORT_NAME, port: SERVICE_PORT, targetPort: DEFAULT_PORT, protocol: kplus.Protocol.TCP }],
    });
    for (const [key, value] of Object.entries(selector)) service.selectLabel(key, value);

    new kplus.HorizontalPodAutoscaler(this, 'hpa', {
      metadata: meta(DEPLOYMENT_NAME),
      target: this.deployment,
      minReplicas: s.minReplicas,
      maxReplicas: s.maxReplicas,
      metrics: [kplus.Metric.resourceCpu(kplus.MetricTarget.averageUtilization(s.hpaCpuUtilizationPercent))],
      scaleDown: { stabilizationWindow: Duration.seconds(s.scaleDownStabilizationSeconds) },
    });

    new kplus.k8s.KubePodDisruptionBudget(this, 'pdb', {
      metadata: meta(DEPLOYMENT_NAME),
      spec: {
        // One pod at a time: always compatible with minReplicas, even at 1.
        maxUnavailable: kplus.k8s.IntOrString.fromNumber(1),
        selector: { matchLabels: selector },
        unhealthyPodEvictionPolicy: 'AlwaysAllow',
      },
    });

    // Default deny for every pod of the namespace (BoltLink gets a namespace of its own);
    // the policy below then opens exactly what the backend needs.
    new kplus.k8s.KubeNetworkPolicy(this, 'default-deny', {
      metadata: meta('default-deny'),
      spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] },
    });
    const tcp = (port: number) => ({ protocol: 'TCP', port: kplus.k8s.IntOrString.fromNumber(port) });
    new kplus.k8s.KubeNetworkPolicy(this, 'network-policy', {
      metadata: meta(DEPLOYMENT_NAME),
      spec: {
        podSelector: { matchLabels: selector },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [{ ports: [tcp(DEFAULT_PORT), tcp(DEFAULT_METRICS_PORT)] }],
        egress: [
          { ports: [{ protocol: 'UDP', port: kplus.k8s.IntOrString.fromNumber(DNS_PORT) }, tcp(DNS_PORT)] },
          { ports: [tcp(props.databasePort ?? 5432)] },
          { ports: [tcp(props.redisPort ?? 6379)] },
        ],
      },
    });
  }
}
