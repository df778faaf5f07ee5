/**
 * The checks kube-score, kube-linter and Polaris apply to a stateless HTTP
 * Deployment, as code over synthesized objects (none of those tools can be
 * installed here). Each rule returns the violations it finds, so a test can
 * prove both that charts-out passes and that each rule catches what it names.
 */

import { ENVIRONMENTS, sizingFor, type EnvironmentName, type Sizing } from '../common/sizing';
import { pssViolations } from './pod-security';

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are plain JSON of many shapes */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: any;
  [key: string]: unknown;
}

export interface RuleContext {
  readonly environment: string;
}

export type Rule = (objects: readonly K8sObject[], ctx: RuleContext) => string[];

/** The sizing of a known environment (a rule about the sizing says nothing for another). */
const sizingOf = (environment: string): Sizing | undefined =>
  (ENVIRONMENTS as string[]).includes(environment) ? sizingFor(environment as EnvironmentName) : undefined;
const of = (objects: readonly K8sObject[], kind: string) => objects.filter((o) => o.kind === kind);
const containersOf = (d: K8sObject): any[] => [
  ...(d.spec?.template?.spec?.initContainers ?? []),
  ...(d.spec?.template?.spec?.containers ?? []),
];
const matches = (selector: Record<string, string> | undefined, labels: Record<string, string> | undefined) =>
  !!selector && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels?.[k] === v);
const podLabels = (d: K8sObject) => d.spec?.template?.metadata?.labels as Record<string, string> | undefined;
const SECRETISH = /(TOKEN|SECRET|PASSWORD|PASSWD|_URL|_KEY|CREDENTIAL)S?$/i;

export const RULES: Record<string, Rule> = {
  'deployment-present': (o) =>
    of(o, 'Deployment').length === 1 ? [] : [`expected one Deployment, found ${of(o, 'Deployment').length}`],

  'container-resources': (o) =>
    of(o, 'Deployment').flatMap((d) =>
      containersOf(d).flatMap((c) =>
        ['cpu', 'memory', 'ephemeral-storage'].flatMap((r) =>
          ['requests', 'limits']
            .filter((k) => c.resources?.[k]?.[r] === undefined || c.resources?.[k]?.[r] === null)
            .map((k) => `${d.metadata.name}/${c.name}: no ${r} ${k}`),
        ),
      ),
    ),

  /**
   * The rollout's clock is the sizing's, never an inherited default: cdk8s-plus
   * writes progressDeadlineSeconds 600 and minReadySeconds 0, which nobody chose,
   * and a migration longer than the deadline would stall every rollout.
   */
  'rollout-clock-from-sizing': (o, ctx) => {
    const s = sizingOf(ctx.environment);
    if (!s) return [];
    return of(o, 'Deployment').flatMap((d) => {
      const v: string[] = [];
      const spec = d.spec ?? {};
      if (spec.progressDeadlineSeconds === undefined) v.push(`${d.metadata.name}: progressDeadlineSeconds unset`);
      else if (spec.progressDeadlineSeconds !== s.progressDeadlineSeconds)
        v.push(
          `${d.metadata.name}: progressDeadlineSeconds ${spec.progressDeadlineSeconds}, the sizing derives ${s.progressDeadlineSeconds}`,
        );
      if (spec.minReadySeconds === undefined) v.push(`${d.metadata.name}: minReadySeconds unset`);
      else if (spec.minReadySeconds !== s.minReadySeconds)
        v.push(`${d.metadata.name}: minReadySeconds ${spec.minReadySeconds}, the sizing derives ${s.minReadySeconds}`);
      const startup = containersOf(d)[0]?.startupProbe;
      const covers = startup && startup.periodSeconds * startup.failureThreshold >= s.migrationBudgetSeconds;
      if (!covers)
        v.push(
          `${d.metadata.name}: the startup probe does not cover the migration budget (${s.migrationBudgetSeconds} s)`,
        );
      return v;
    });
  },

  'probes-present-and-distinct': (o) =>
    of(o, 'Deployment').flatMap((d) =>
      (d.spec?.template?.spec?.containers ?? []).flatMap((c: any) => {
        const v: string[] = [];
        for (const p of ['startupProbe', 'livenessProbe', 'readinessProbe']) if (!c[p]) v.push(`${c.name}: no ${p}`);
        if (
          c.livenessProbe &&
          c.readinessProbe &&
          JSON.stringify(c.livenessProbe.httpGet) === JSON.stringify(c.readinessProbe.httpGet)
        ) {
          v.push(`${c.name}: liveness and readiness probe the same endpoint`);
        }
        return v;
      }),
    ),

  'image-tag-pinned': (o) =>
    of(o, 'Deployment').flatMap((d) =>
      containersOf(d)
        .filter((c) => !/^[^@]+:[^/:]+$|@sha256:[0-9a-f]{64}$/.test(c.image ?? '') || /:latest$/.test(c.image))
        .map((c) => `${c.name}: image '${c.image}' has no tag or uses latest`),
    ),

  'pod-security-restricted': (o) =>
    of(o, 'Deployment').flatMap((d) => pssViolations(d.spec?.template).map((v) => `${d.metadata.name}: ${v}`)),

  /** Beyond the restricted profile: what kube-score and Polaris also ask of an API pod. */
  'pod-hardening': (o) =>
    of(o, 'Deployment').flatMap((d) => {
      const pod = d.spec?.template?.spec ?? {};
      const v: string[] = [];
      if (!(pod.securityContext?.runAsUser >= 10000))
        v.push(`pod: runAsUser ${pod.securityContext?.runAsUser} is below 10000`);
      if (!(pod.securityContext?.runAsGroup >= 10000))
        v.push(`pod: runAsGroup ${pod.securityContext?.runAsGroup} is below 10000`);
      if (pod.automountServiceAccountToken !== false) v.push('pod: automountServiceAccountToken is not false');
      for (const c of containersOf(d)) {
        const sc = c.securityContext ?? {};
        if (sc.readOnlyRootFilesystem !== true) v.push(`${c.name}: readOnlyRootFilesystem is not true`);
        if (sc.runAsUser !== undefined && sc.runAsUser < 10000) v.push(`${c.name}: runAsUser below 10000`);
      }
      return v;
    }),

  'no-secret-values-in-env': (o) =>
    of(o, 'Deployment').flatMap((d) =>
      containersOf(d).flatMap((c) =>
        (c.env ?? [])
          .filter((e: any) => SECRETISH.test(e.name) && (e.value !== undefined || !e.valueFrom?.secretKeyRef))
          .map((e: any) => `${c.name}: ${e.name} is not a secretKeyRef`),
      ),
    ),

  'no-secrets-in-configmaps': (o) =>
    of(o, 'ConfigMap').flatMap((cm) =>
      Object.keys((cm.data as Record<string, string>) ?? {})
        .filter((k) => SECRETISH.test(k) && k !== 'PUBLIC_BASE_URL')
        .map((k) => `${cm.metadata.name}: key ${k} looks like a secret`),
    ),

  'selector-matches-template': (o) =>
    of(o, 'Deployment')
      .filter((d) => !matches(d.spec?.selector?.matchLabels, podLabels(d)))
      .map((d) => `${d.metadata.name}: selector does not match the pod template labels`),

  'service-targets-pods': (o) => {
    const d = of(o, 'Deployment')[0];
    if (!d) return [];
    const ports = new Set<unknown>(
      (d.spec?.template?.spec?.containers ?? []).flatMap((c: any) =>
        (c.ports ?? []).flatMap((p: any) => [p.containerPort, p.name]),
      ),
    );
    const services = of(o, 'Service');
    if (services.length === 0) return ['no Service'];
    return services.flatMap((s) => [
      ...(matches(s.spec?.selector, podLabels(d))
        ? []
        : [`Service ${s.metadata.name}: selector does not match the pods`]),
      ...(s.spec?.ports ?? [])
        .filter((p: any) => !ports.has(p.targetPort))
        .map((p: any) => `Service ${s.metadata.name}: targetPort ${p.targetPort} is no container port`),
    ]);
  },

  'hpa-owns-replicas': (o, ctx) => {
    const d = of(o, 'Deployment')[0];
    const hpas = of(o, 'HorizontalPodAutoscaler');
    const v: string[] = [];
    if (hpas.length !== 1) return [`expected one HPA, found ${hpas.length}`];
    const h = hpas[0]!;
    if (h.apiVersion !== 'autoscaling/v2') v.push(`HPA apiVersion ${h.apiVersion}`);
    if (h.spec?.scaleTargetRef?.kind !== 'Deployment' || h.spec?.scaleTargetRef?.name !== d?.metadata.name)
      v.push('HPA does not target the Deployment');
    if (d?.spec?.replicas !== undefined) v.push('Deployment sets replicas although an HPA owns them');
    if (ctx.environment === 'prod' && !(h.spec?.minReplicas >= 2))
      v.push(`HPA minReplicas ${h.spec?.minReplicas} is below 2 in prod`);
    return v;
  },

  'pdb-matches': (o) => {
    const d = of(o, 'Deployment')[0];
    const pdbs = of(o, 'PodDisruptionBudget');
    if (pdbs.length !== 1) return [`expected one PodDisruptionBudget, found ${pdbs.length}`];
    const p = pdbs[0]!;
    const hpa = of(o, 'HorizontalPodAutoscaler')[0];
    const v: string[] = [];
    if (p.apiVersion !== 'policy/v1') v.push(`PDB apiVersion ${p.apiVersion}`);
    if (d && !matches(p.spec?.selector?.matchLabels, podLabels(d))) v.push('PDB does not select the pods');
    if (p.spec?.minAvailable !== undefined && !(p.spec.minAvailable < (hpa?.spec?.minReplicas ?? 1)))
      v.push('PDB minAvailable blocks every eviction at minReplicas');
    if (p.spec?.maxUnavailable !== undefined && !(p.spec.maxUnavailable >= 1))
      v.push('PDB maxUnavailable below 1 blocks every eviction');
    return v;
  },

  'network-policy-present': (o) => {
    const d = of(o, 'Deployment')[0];
    const nps = of(o, 'NetworkPolicy').filter((n) => d && matches(n.spec?.podSelector?.matchLabels, podLabels(d)));
    if (nps.length === 0) return ['no NetworkPolicy selects the pods'];
    const types = new Set(nps.flatMap((n) => n.spec?.policyTypes ?? []));
    return ['Ingress', 'Egress'].filter((t) => !types.has(t)).map((t) => `no ${t} policy for the pods`);
  },

  /**
   * The pods' ports are open to named clients only: every ingress rule of a
   * policy that selects them says `from` whom (a rule without `from` admits
   * every pod of the cluster).
   */
  'network-ingress-from-clients': (o) => {
    const d = of(o, 'Deployment')[0];
    return of(o, 'NetworkPolicy')
      .filter((n) => d && matches(n.spec?.podSelector?.matchLabels, podLabels(d)))
      .flatMap((n) =>
        ((n.spec?.ingress ?? []) as { from?: unknown[]; ports?: { port?: unknown }[] }[])
          .filter((rule) => (rule.from ?? []).length === 0)
          .map(
            (rule) =>
              `NetworkPolicy ${n.metadata.name} admits every pod to port(s) ${(rule.ports ?? []).map((p) => p.port).join(', ') || 'all'}`,
          ),
      );
  },

  /**
   * `kubectl apply -f charts-out` into a shared namespace must not touch other
   * pods: a policy may select only this release's pods (its matchLabels carry
   * the Deployment's selector), except a deny-all for a namespace the release
   * itself creates.
   */
  'network-policies-stay-in-release': (o) => {
    const d = of(o, 'Deployment')[0];
    const release = (d?.spec?.selector?.matchLabels ?? {}) as Record<string, string>;
    const owned = new Set(of(o, 'Namespace').map((n) => n.metadata.name));
    return of(o, 'NetworkPolicy')
      .filter((n) => {
        const selected = (n.spec?.podSelector?.matchLabels ?? {}) as Record<string, string>;
        const onlyRelease =
          Object.keys(release).length > 0 && Object.entries(release).every(([k, v]) => selected[k] === v);
        return !onlyRelease && !owned.has(String(n.metadata.namespace));
      })
      .map((n) => `NetworkPolicy ${n.metadata.name} selects pods outside this release in a namespace it does not own`);
  },

  /** A release with a namespace of its own closes it: one policy denies all ingress and egress there by default. */
  'network-default-deny': (o) => {
    const namespaces = of(o, 'Namespace');
    if (namespaces.length === 0) return [];
    const denies = of(o, 'NetworkPolicy').filter(
      (n) =>
        n.spec?.podSelector !== undefined &&
        Object.keys(n.spec.podSelector).length === 0 &&
        ['Ingress', 'Egress'].every((t) => (n.spec?.policyTypes ?? []).includes(t)) &&
        (n.spec?.ingress ?? []).length === 0 &&
        (n.spec?.egress ?? []).length === 0,
    );
    return namespaces
      .filter((ns) => !denies.some((n) => n.metadata.namespace === ns.metadata.name))
      .map((ns) => `namespace ${ns.metadata.name}: no NetworkPolicy denies all ingress and egress by default`);
  },

  'rolling-update-safe': (o) =>
    of(o, 'Deployment').flatMap((d) => {
      const ru = d.spec?.strategy?.rollingUpdate;
      if (d.spec?.strategy?.type !== 'RollingUpdate' || !ru) return [`${d.metadata.name}: not a RollingUpdate`];
      const v: string[] = [];
      if (ru.maxUnavailable !== 0) v.push(`${d.metadata.name}: maxUnavailable is ${ru.maxUnavailable}, not 0`);
      if (!(ru.maxSurge >= 1)) v.push(`${d.metadata.name}: maxSurge ${ru.maxSurge} cannot make progress`);
      return v;
    }),

  /**
   * The edge routes the host the service writes into every short link: an
   * Ingress or HTTPRoute for another host would publish links nobody can
   * follow, or serve the API under a name its links never use.
   */
  'edge-host-is-public-base-url': (o) => {
    const routes = [...of(o, 'Ingress'), ...of(o, 'HTTPRoute')];
    if (routes.length === 0) return [];
    const configs = of(o, 'ConfigMap').filter(
      (cm) => cm.data !== undefined && 'PUBLIC_BASE_URL' in (cm.data as object),
    );
    if (configs.length !== 1)
      return [`${configs.length} ConfigMaps set PUBLIC_BASE_URL; the edge's host is checked against one`];
    const base = String((configs[0]!.data as Record<string, string>).PUBLIC_BASE_URL);
    const host = URL.parse(base)?.hostname;
    if (!host) return [`PUBLIC_BASE_URL '${base}' is not a URL`];
    return routes.flatMap((route) => {
      const hosts: unknown[] =
        route.kind === 'Ingress'
          ? [
              ...(route.spec?.rules ?? []).map((rule: any) => rule.host),
              ...(route.spec?.tls ?? []).flatMap((t: any) => t.hosts ?? [undefined]),
            ]
          : (route.spec?.hostnames ?? [undefined]);
      return hosts
        .filter((h) => h !== host)
        .map(
          (h) =>
            `${route.kind}/${route.metadata.name}: host ${h === undefined ? '(any)' : `'${String(h)}'`} is not PUBLIC_BASE_URL's '${host}'`,
        );
    });
  },

  /** Every route of the edge ends at the release's Service, on a port it has. */
  'edge-routes-to-service': (o) => {
    const ports = new Map(
      of(o, 'Service').map((svc) => [svc.metadata.name, (svc.spec?.ports ?? []).map((p: any) => p.port)]),
    );
    const check = (route: K8sObject, name: unknown, port: unknown) =>
      ports.get(String(name))?.includes(port)
        ? []
        : [
            `${route.kind}/${route.metadata.name}: backend ${String(name)}:${String(port)} is not a port of a Service of this release`,
          ];
    return [
      ...of(o, 'Ingress').flatMap((i) =>
        (i.spec?.rules ?? []).flatMap((rule: any) =>
          (rule.http?.paths ?? []).flatMap((p: any) =>
            check(i, p.backend?.service?.name, p.backend?.service?.port?.number),
          ),
        ),
      ),
      ...of(o, 'HTTPRoute').flatMap((h) =>
        (h.spec?.rules ?? []).flatMap((rule: any) =>
          (rule.backendRefs ?? []).flatMap((b: any) => check(h, b.name, b.port)),
        ),
      ),
    ];
  },

  'recommended-labels': (o) =>
    o.flatMap((obj) =>
      ['name', 'instance', 'version', 'component', 'part-of', 'managed-by']
        .filter((l) => !obj.metadata.labels?.[`app.kubernetes.io/${l}`])
        .map((l) => `${obj.kind}/${obj.metadata.name}: no app.kubernetes.io/${l} label`),
    ),
};

/** Every violation of every rule, prefixed with the rule's name. */
export function checkManifests(objects: readonly K8sObject[], ctx: RuleContext): string[] {
  return Object.entries(RULES).flatMap(([name, rule]) => rule(objects, ctx).map((v) => `${name}: ${v}`));
}
