import { ApiObject, Duration, JsonPatch, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { APP_GID, APP_UID, DEFAULT_METRICS_PORT, DEFAULT_PORT, SCRATCH_DIR } from '../../common/contract';
import type { Sizing } from '../../common/sizing';
import { METRICS_PORT_NAME } from '../monitoring/manifests';
import { CONTAINER_NAME, DEPLOYMENT_NAME } from '../names';
import { CHANGE_CAUSE, HTTP_PORT_NAME, meta, type Resolved } from './props';

/** In the image (Dockerfile copies service/bin). */
export const MIGRATE_THEN_SERVE = 'service/bin/migrate-then-serve.sh';

/** An HTTP GET probe on the API port with the sizing's timings. */
const httpProbe = (path: string, t: Sizing['livenessProbe']) =>
  kplus.Probe.fromHttpGet(path, {
    port: DEFAULT_PORT,
    periodSeconds: Duration.seconds(t.periodSeconds),
    timeoutSeconds: Duration.seconds(t.timeoutSeconds),
    failureThreshold: t.failureThreshold,
    initialDelaySeconds: Duration.seconds(0),
  });

/**
 * The Deployment: a PM2 cluster per pod, sized from common/sizing.ts (CPU and
 * memory, probes, grace period, surge), the migration before pm2-runtime, the
 * secrets' values by reference, hardened (non-root, read-only root, no
 * capabilities, seccomp), spread over nodes and zones.
 */
export class BackendDeployment extends kplus.Deployment {
  /**
   * A kplus.Deployment itself, not a construct around one: the pod template
   * carries a label of the construct's address, and a deeper path would change
   * it, and roll every pod, on the next apply.
   */
  constructor(
    scope: Construct,
    id: string,
    r: Resolved,
    serviceAccount: kplus.ServiceAccount,
    config: kplus.ConfigMap,
  ) {
    const s = r.sizing;
    super(scope, id, {
      metadata: {
        ...meta(r, DEPLOYMENT_NAME),
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
      // The rollout's clock, from the sizing (cdk8s-plus would say 600 s and 0): a new pod may migrate,
      // start and stay Ready minReadySeconds before the rollout counts as stalled.
      progressDeadline: Duration.seconds(s.progressDeadlineSeconds),
      minReady: Duration.seconds(s.minReadySeconds),
      strategy: kplus.DeploymentStrategy.rollingUpdate({
        maxSurge: kplus.PercentOrAbsolute.absolute(s.maxSurgePods),
        maxUnavailable: kplus.PercentOrAbsolute.absolute(0),
      }),
      containers: [backendContainer(scope, r, config)],
    });
    this.select(kplus.LabelSelector.of({ labels: r.selector }));
    patchPodSpec(this, r);
  }
}

/** The one container: pm2-runtime after the migration, its ports, env, resources, hardening, scratch and probes. */
function backendContainer(scope: Construct, r: Resolved, config: kplus.ConfigMap): kplus.ContainerProps {
  const s = r.sizing;
  const scratch = kplus.Volume.fromEmptyDir(scope, 'scratch', 'scratch', { sizeLimit: Size.mebibytes(s.scratchMiB) });
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
    envVariables: containerEnv(scope, r),
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
function containerEnv(scope: Construct, r: Resolved): Record<string, kplus.EnvValue> {
  const secretEnv = (secretName: string, key: string) =>
    kplus.EnvValue.fromSecretValue({
      secret: kplus.Secret.fromSecretName(scope, `secret-${secretName}-${key}`, secretName),
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
function patchPodSpec(deployment: kplus.Deployment, r: Resolved): void {
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
