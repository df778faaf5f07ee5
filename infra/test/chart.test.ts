import path from 'node:path';
import { APP_UID, DEFAULT_METRICS_PORT, DEFAULT_PORT } from '../../common/contract';
import { CHANGE_CAUSE, DEFAULT_API_CLIENT_LABELS, DEFAULT_DENY_NAME, DEFAULT_METRICS_SCRAPER_LABELS } from '../chart';
import { CONFIG_NAME, DEPLOYMENT_NAME } from '../names';
import { checkManifests, RULES } from '../rules';
import { schemaProblems } from '../schemas';
import { sizingFor, type EnvironmentName } from '../../common/sizing';
import { CHARTS_OUT, container, envValue, find, quantity, readManifests, synth } from '../../test-support/synth';

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are plain JSON */
const ENVS: EnvironmentName[] = ['staging', 'cluster-test', 'prod'];

describe.each(ENVS)('the %s release', (env) => {
  const s = sizingFor(env);
  const objects = synth(env);
  const c = container(objects);
  const d = find(objects, 'Deployment');

  it('requests CPU for exactly the PM2 workers it runs', () => {
    expect(envValue(c, 'PM2_INSTANCES')).toEqual({ name: 'PM2_INSTANCES', value: String(s.pm2Instances) });
    expect(quantity(c.resources.requests.cpu)).toBe(s.pm2Instances * s.cpuRequestMilliPerWorker);
    expect(quantity(c.resources.limits.cpu)).toBe(s.pm2Instances * s.cpuLimitMilliPerWorker);
    expect(Math.floor(quantity(c.resources.limits.cpu) / 1000)).toBeGreaterThanOrEqual(s.pm2Instances);
  });

  it('gives the pod memory for every worker heap and restart threshold', () => {
    const limit = quantity(c.resources.limits.memory);
    expect(quantity(c.resources.requests.memory)).toBe(limit);
    expect(limit).toBe(s.memoryLimitMiB);
    expect(s.pm2Instances * s.heapMiBPerWorker).toBeLessThanOrEqual(limit);
    expect(s.pm2Instances * s.maxMemoryRestartMiB).toBeLessThanOrEqual(limit);
    expect(quantity(c.resources.requests['ephemeral-storage'])).toBe(s.ephemeralStorageRequestMiB);
    expect(quantity(c.resources.limits['ephemeral-storage'])).toBe(s.ephemeralStorageLimitMiB);
  });

  it('allows the full drain before Kubernetes kills the pod', () => {
    const grace = d.spec.template.spec.terminationGracePeriodSeconds;
    const preStop = c.lifecycle?.preStop?.exec?.command ?? [];
    expect(preStop).toEqual(['sleep', String(s.preStopDelaySeconds)]);
    expect(grace * 1000).toBeGreaterThanOrEqual(s.preStopDelaySeconds * 1000 + s.killTimeoutMs);
  });

  it('keeps every pool of every worker at peak within the database budget', () => {
    const hpa = find(objects, 'HorizontalPodAutoscaler');
    const surge = d.spec.strategy.rollingUpdate.maxSurge;
    expect(hpa.spec.maxReplicas).toBe(s.maxReplicas);
    expect(surge).toBe(s.maxSurgePods);
    expect(s.dbPoolPerWorker * s.pm2Instances * (hpa.spec.maxReplicas + surge)).toBeLessThanOrEqual(
      s.dbMaxConnections - s.dbReservedConnections,
    );
  });

  it('probes /livez for startup and liveness, /ready for readiness, on the service port', () => {
    expect(c.startupProbe.httpGet).toMatchObject({ path: '/livez', port: DEFAULT_PORT });
    expect(c.livenessProbe.httpGet).toMatchObject({ path: '/livez', port: DEFAULT_PORT });
    expect(c.readinessProbe.httpGet).toMatchObject({ path: '/ready', port: DEFAULT_PORT });
    expect(c.readinessProbe).toMatchObject(s.readinessProbe);
    expect(c.livenessProbe).toMatchObject(s.livenessProbe);
    expect(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold * 1000).toBeGreaterThanOrEqual(
      s.startupTimeoutMs,
    );
  });

  it('exposes pod metrics for scraping on their own port, not through the Service', () => {
    expect(c.ports).toEqual([
      { containerPort: DEFAULT_PORT, name: 'http' },
      { containerPort: DEFAULT_METRICS_PORT, name: 'metrics' },
    ]);
    expect(d.spec.template.metadata.annotations).toEqual({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': String(DEFAULT_METRICS_PORT),
      'prometheus.io/path': '/metrics',
    });
    expect(find(objects, 'Service').spec.ports.map((p: any) => p.targetPort)).toEqual([DEFAULT_PORT]);
    const allow = objects.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === DEPLOYMENT_NAME);
    const ingress = allow!.spec.ingress.flatMap((r: any) => r.ports.map((p: any) => p.port));
    expect(ingress).toEqual([DEFAULT_PORT, DEFAULT_METRICS_PORT]);
  });

  it('opens the API port to its clients and the metrics port to the scrapers only, by pod labels in any namespace', () => {
    const fromWhom = (o: any[]) =>
      o
        .find((x) => x.kind === 'NetworkPolicy' && x.metadata.name === DEPLOYMENT_NAME)
        .spec.ingress.map((r: any) => [r.ports.map((p: any) => p.port), r.from]);
    const peer = (labels: Record<string, string>) => [{ namespaceSelector: {}, podSelector: { matchLabels: labels } }];
    expect(fromWhom(objects)).toEqual([
      [[DEFAULT_PORT], peer({ ...DEFAULT_API_CLIENT_LABELS })],
      [[DEFAULT_METRICS_PORT], peer({ ...DEFAULT_METRICS_SCRAPER_LABELS })],
    ]);
    const own = synth('prod', { apiClientLabels: { app: 'traefik' }, metricsScraperLabels: { app: 'vmagent' } });
    expect(fromWhom(own)).toEqual([
      [[DEFAULT_PORT], peer({ app: 'traefik' })],
      [[DEFAULT_METRICS_PORT], peer({ app: 'vmagent' })],
    ]);
  });

  it('names the revision kubectl apply makes after its image (kubectl rollout history shows it)', () => {
    expect(d.metadata.annotations).toEqual({ [CHANGE_CAUSE]: 'image boltlink-backend:v9.9.9 (kubectl apply)' });
  });

  it('rate-limits per client behind one ingress (its X-Forwarded-For is trusted)', () => {
    expect((objects.find((o) => o.metadata.name === CONFIG_NAME) as any).data.TRUST_PROXY_HOPS).toBe('1');
  });

  it('takes secrets only by reference', () => {
    expect(envValue(c, 'DATABASE_URL').valueFrom.secretKeyRef).toEqual({ name: 'db-secrets', key: 'url' });
    expect(envValue(c, 'REDIS_URL').valueFrom.secretKeyRef).toEqual({ name: 'redis-secrets', key: 'url' });
    expect(envValue(c, 'API_TOKENS').valueFrom.secretKeyRef).toEqual({ name: 'boltlink-api-tokens', key: 'tokens' });
    expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
  });

  it('scales with an HPA from the sizing and leaves replicas to it', () => {
    const hpa = find(objects, 'HorizontalPodAutoscaler');
    expect(d.spec.replicas).toBeUndefined();
    expect(hpa.spec).toMatchObject({
      minReplicas: s.minReplicas,
      maxReplicas: s.maxReplicas,
      metrics: [
        {
          type: 'Resource',
          resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: s.hpaCpuUtilizationPercent } },
        },
      ],
      behavior: { scaleDown: { stabilizationWindowSeconds: s.scaleDownStabilizationSeconds } },
    });
  });

  it('runs as the image user with a read-only root and a sized scratch volume', () => {
    const pod = d.spec.template.spec;
    expect(pod.securityContext).toMatchObject({
      runAsUser: APP_UID,
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.volumes).toEqual([{ name: 'scratch', emptyDir: { sizeLimit: `${s.scratchMiB}Mi` } }]);
    expect(c.volumeMounts).toEqual([{ name: 'scratch', mountPath: '/tmp' }]);
    expect(pod.topologySpreadConstraints.map((t: any) => [t.topologyKey, t.whenUnsatisfiable])).toEqual([
      ['kubernetes.io/hostname', 'ScheduleAnyway'],
      ['topology.kubernetes.io/zone', 'ScheduleAnyway'],
    ]);
  });

  it('validates against the Kubernetes schema', () => {
    expect(schemaProblems(objects)).toEqual([]);
  });

  it('passes every rule of the lint suite', () => {
    expect(checkManifests(objects, { environment: env })).toEqual([]);
  });
});

describe('namespaces and the default deny', () => {
  it('by default carries no namespace and restricts only the release’s own pods', () => {
    const objects = synth('prod');
    expect(objects.filter((o) => o.metadata.namespace !== undefined)).toEqual([]);
    expect(objects.filter((o) => o.kind === 'Namespace')).toEqual([]);
    const policies = objects.filter((o) => o.kind === 'NetworkPolicy');
    expect(policies.map((p) => p.metadata.name)).toEqual([DEPLOYMENT_NAME]);
    expect(policies[0]!.spec.podSelector.matchLabels).toEqual(find(objects, 'Deployment').spec.selector.matchLabels);
    expect(checkManifests(objects, { environment: 'prod' })).toEqual([]);
  });

  it('with a namespace of its own emits it first, restricted by Pod Security, puts everything in it and denies by default', () => {
    const objects = synth('prod', { namespace: 'boltlink' });
    const [first, ...rest] = objects;
    expect(first).toMatchObject({ kind: 'Namespace', metadata: { name: 'boltlink' } });
    expect(first!.metadata.namespace).toBeUndefined();
    expect(first!.metadata.labels).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'restricted',
      'pod-security.kubernetes.io/warn': 'restricted',
      'pod-security.kubernetes.io/audit': 'restricted',
    });
    expect(rest.filter((o) => o.metadata.namespace !== 'boltlink')).toEqual([]);
    expect(objects.find((o) => o.metadata.name === DEFAULT_DENY_NAME)?.spec).toEqual({
      podSelector: {},
      policyTypes: ['Ingress', 'Egress'],
    });
    expect(checkManifests(objects, { environment: 'prod' })).toEqual([]);
    expect(schemaProblems(objects)).toEqual([]);
  });
});

describe('the rule suite', () => {
  const clean = () => JSON.parse(JSON.stringify(synth('prod'))) as any[];
  const cleanOwnNamespace = () => JSON.parse(JSON.stringify(synth('prod', { namespace: 'boltlink' }))) as any[];
  const policy = (o: any[], name: string) => o.find((x) => x.kind === 'NetworkPolicy' && x.metadata.name === name);
  const deployment = (o: any[]) => o.find((x) => x.kind === 'Deployment');
  const mutations: [string, (o: any[]) => void][] = [
    ['container-resources', (o) => delete container(o).resources.limits.cpu],
    ['probes-present-and-distinct', (o) => (container(o).readinessProbe = container(o).livenessProbe)],
    ['probes-present-and-distinct', (o) => delete container(o).startupProbe],
    ['rollout-clock-from-sizing', (o) => delete deployment(o).spec.progressDeadlineSeconds],
    ['rollout-clock-from-sizing', (o) => (deployment(o).spec.progressDeadlineSeconds = 600)],
    ['rollout-clock-from-sizing', (o) => (deployment(o).spec.minReadySeconds = 0)],
    ['rollout-clock-from-sizing', (o) => (container(o).startupProbe.failureThreshold = 16)],
    ['image-tag-pinned', (o) => (container(o).image = 'boltlink-backend:latest')],
    ['image-tag-pinned', (o) => (container(o).image = 'boltlink-backend')],
    ['pod-hardening', (o) => (container(o).securityContext.readOnlyRootFilesystem = false)],
    ['pod-hardening', (o) => (deployment(o).spec.template.spec.automountServiceAccountToken = true)],
    ['pod-security-restricted', (o) => (container(o).securityContext.capabilities.drop = ['NET_RAW'])],
    ['pod-hardening', (o) => (deployment(o).spec.template.spec.securityContext.runAsUser = 1000)],
    ['pod-security-restricted', (o) => delete deployment(o).spec.template.spec.securityContext.seccompProfile],
    ['pod-security-restricted', (o) => (container(o).securityContext.allowPrivilegeEscalation = true)],
    ['no-secret-values-in-env', (o) => container(o).env.push({ name: 'API_TOKENS', value: 'hunter2hunter2hunter2' })],
    [
      'no-secrets-in-configmaps',
      (o) => ((o.find((x) => x.metadata.name === CONFIG_NAME) as any).data.DATABASE_URL = 'postgres://u:p@db/x'),
    ],
    ['selector-matches-template', (o) => (deployment(o).spec.selector.matchLabels['app.kubernetes.io/name'] = 'other')],
    ['service-targets-pods', (o) => (o.find((x) => x.kind === 'Service').spec.ports[0].targetPort = 8080)],
    ['service-targets-pods', (o) => (o.find((x) => x.kind === 'Service').spec.selector = { app: 'nope' })],
    ['hpa-owns-replicas', (o) => (deployment(o).spec.replicas = 3)],
    ['hpa-owns-replicas', (o) => (o.find((x) => x.kind === 'HorizontalPodAutoscaler').spec.minReplicas = 1)],
    ['pdb-matches', (o) => (o.find((x) => x.kind === 'PodDisruptionBudget').spec.maxUnavailable = 0)],
    [
      'pdb-matches',
      (o) =>
        o.splice(
          o.findIndex((x) => x.kind === 'PodDisruptionBudget'),
          1,
        ),
    ],
    [
      'network-policy-present',
      (o) =>
        o.splice(
          o.findIndex((x) => x.kind === 'NetworkPolicy' && x.metadata.name === DEPLOYMENT_NAME),
          1,
        ),
    ],
    ['network-ingress-from-clients', (o) => delete policy(o, DEPLOYMENT_NAME).spec.ingress[0].from],
    ['network-ingress-from-clients', (o) => (policy(o, DEPLOYMENT_NAME).spec.ingress[1].from = [])],
    [
      'network-policies-stay-in-release',
      (o) => o.push({ ...policy(o, DEPLOYMENT_NAME), metadata: { name: 'deny-all' }, spec: { podSelector: {} } }),
    ],
    [
      'network-policies-stay-in-release',
      (o) => delete policy(o, DEPLOYMENT_NAME).spec.podSelector.matchLabels['app.kubernetes.io/instance'],
    ],
    ['rolling-update-safe', (o) => (deployment(o).spec.strategy.rollingUpdate.maxUnavailable = 1)],
    ['recommended-labels', (o) => delete deployment(o).metadata.labels['app.kubernetes.io/version']],
    ['deployment-present', (o) => o.push(deployment(o))],
    ['edge-host-is-public-base-url', (o) => (o.find((x) => x.kind === 'Ingress').spec.rules[0].host = 'other.example')],
    [
      'edge-host-is-public-base-url',
      (o) => (o.find((x) => x.kind === 'Ingress').spec.tls[0].hosts = ['other.example']),
    ],
    ['edge-host-is-public-base-url', (o) => delete o.find((x) => x.kind === 'HTTPRoute').spec.hostnames],
    [
      'edge-host-is-public-base-url',
      (o) => ((o.find((x) => x.metadata.name === CONFIG_NAME) as any).data.PUBLIC_BASE_URL = 'https://moved.example'),
    ],
    [
      'edge-routes-to-service',
      (o) => (o.find((x) => x.kind === 'Ingress').spec.rules[0].http.paths[0].backend.service.port.number = 5000),
    ],
    [
      'edge-routes-to-service',
      (o) => (o.find((x) => x.kind === 'HTTPRoute').spec.rules[0].backendRefs[0].name = 'api'),
    ],
  ];

  /** Mutations of a release that owns its namespace (the default-deny belongs there only). */
  const ownNamespaceMutations: [string, (o: any[]) => void][] = [
    ['network-default-deny', (o) => (policy(o, DEFAULT_DENY_NAME).spec.egress = [{}])],
    ['network-default-deny', (o) => o.splice(o.indexOf(policy(o, DEFAULT_DENY_NAME)), 1)],
    ['network-policies-stay-in-release', (o) => (policy(o, DEFAULT_DENY_NAME).metadata.namespace = 'shared')],
  ];

  it('covers every rule with at least one breaking mutation', () => {
    expect(new Set([...mutations, ...ownNamespaceMutations].map(([r]) => r))).toEqual(new Set(Object.keys(RULES)));
  });

  it.each(ownNamespaceMutations.map(([rule, mutate], i) => [`${rule} #${i}`, rule, mutate] as const))(
    '%s catches its mutation of a release with a namespace of its own',
    (_n, rule, mutate) => {
      const o = cleanOwnNamespace();
      expect(checkManifests(o, { environment: 'prod' })).toEqual([]);
      mutate(o);
      expect(checkManifests(o, { environment: 'prod' }).filter((v) => v.startsWith(`${rule}:`)).length).toBeGreaterThan(
        0,
      );
    },
  );

  it.each(mutations.map(([rule, mutate], i) => [`${rule} #${i}`, rule, mutate] as const))(
    '%s catches its mutation',
    (_n, rule, mutate) => {
      const o = clean();
      mutate(o);
      expect(checkManifests(o, { environment: 'prod' }).filter((v) => v.startsWith(`${rule}:`)).length).toBeGreaterThan(
        0,
      );
    },
  );
});

describe('charts-out/', () => {
  const committed = readManifests(CHARTS_OUT);
  const objects = committed.flatMap((f) => f.objects);

  it('is the prod release, one coherent set of objects', () => {
    expect(committed.map((f) => f.file)).toEqual(['boltlink-prod.k8s.yaml']);
    expect(objects.map((o) => o.kind).sort()).toEqual(
      [
        'ConfigMap',
        'ConfigMap',
        'Deployment',
        'HorizontalPodAutoscaler',
        'Ingress',
        'NetworkPolicy',
        'PodDisruptionBudget',
        'Service',
        'ServiceAccount',
      ].sort(),
    );
    expect(envValue(container(objects), 'PM2_INSTANCES').value).toBe(String(sizingFor('prod').pm2Instances));
    expect(checkManifests(objects, { environment: 'prod' })).toEqual([]);
    expect(schemaProblems(objects)).toEqual([]);
  });

  it('carries the HTTPRoute in gateway/, routing the same host to the same Service', () => {
    const gateway = readManifests(path.join(CHARTS_OUT, 'gateway'));
    expect(gateway.map((f) => f.file)).toEqual(['boltlink-prod-gateway.k8s.yaml']);
    const release = [...objects, ...gateway.flatMap((f) => f.objects)];
    expect(find(release, 'HTTPRoute').spec.hostnames).toEqual(find(release, 'Ingress').spec.tls[0].hosts);
    expect(checkManifests(release, { environment: 'prod' })).toEqual([]);
    expect(schemaProblems(release)).toEqual([]);
  });
});
