import type { ChartProps } from 'cdk8s';
import { DEFAULT_PORT, PM2_HOME } from '../../common/contract';
import { sizingFor, type EnvironmentName, type Sizing } from '../../common/sizing';
import { DEPLOYMENT_NAME } from '../names';

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
   * The controller that carries public traffic to the Service: it names the
   * Ingress's class and the pods the NetworkPolicy admits to the API port
   * (EDGE_CONTROLLERS). Traefik, not ingress-nginx: ingress-nginx was retired
   * upstream in March 2026 (no releases, no security fixes), and Traefik v3
   * serves both the Ingress and the Gateway API's HTTPRoute.
   * @default DEFAULT_EDGE_CONTROLLER ('traefik')
   */
  readonly edgeController?: EdgeControllerName;
  /**
   * The Ingress's `ingressClassName`, for a class named otherwise than its
   * controller's usual one.
   * @default the edge controller's (EDGE_CONTROLLERS)
   */
  readonly ingressClassName?: string;
  /**
   * The Secret (`kubernetes.io/tls`) holding the certificate for the public
   * host, which the Ingress names; made by the platform or by cert-manager.
   * @default DEFAULT_TLS_SECRET_NAME ('boltlink-tls')
   */
  readonly tlsSecretName?: string;
  /**
   * A cert-manager ClusterIssuer: the Ingress gets `cert-manager.io/cluster-issuer`
   * and cert-manager keeps tlsSecretName filled with a certificate for the host.
   * @default none: the Secret is provided some other way
   * @see https://cert-manager.io/docs/usage/ingress/
   */
  readonly certManagerClusterIssuer?: string;
  /**
   * The Gateway the HTTPRoute (charts-out/gateway/) attaches to: the platform's,
   * with the HTTPS listener and its certificate. A Gateway in another namespace
   * must admit routes from the release's (`allowedRoutes.namespaces`).
   * @default DEFAULT_GATEWAY: `boltlink` in the release's namespace, any listener
   * @see https://gateway-api.sigs.k8s.io/api-types/httproute/
   */
  readonly gateway?: GatewayRef;
  /**
   * Who may call the API port (NetworkPolicy ingress): pods with these
   * labels, in any namespace. Kubelet probes come from the node, which
   * NetworkPolicy implementations let through.
   * @default the edge controller's pods (EDGE_CONTROLLERS; trustProxyHops
   * assumes one controller in front)
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

/** A Gateway by name (and namespace, and listener: `sectionName`). */
export interface GatewayRef {
  readonly name: string;
  /** @default the release's namespace */
  readonly namespace?: string;
  /** The Gateway's listener; @default every listener whose hostname matches */
  readonly sectionName?: string;
}

/**
 * The controllers the chart knows: their usual IngressClass and their pods'
 * labels as their own Helm charts set them (the NetworkPolicy's API clients).
 */
export const EDGE_CONTROLLERS = {
  traefik: { ingressClassName: 'traefik', podLabels: { 'app.kubernetes.io/name': 'traefik' } },
  'ingress-nginx': { ingressClassName: 'nginx', podLabels: { 'app.kubernetes.io/name': 'ingress-nginx' } },
} as const satisfies Record<string, { ingressClassName: string; podLabels: Readonly<Record<string, string>> }>;
export type EdgeControllerName = keyof typeof EDGE_CONTROLLERS;
export const DEFAULT_EDGE_CONTROLLER: EdgeControllerName = 'traefik';
/** The API's clients unless apiClientLabels says otherwise: the default edge controller's pods. */
export const DEFAULT_API_CLIENT_LABELS: Readonly<Record<string, string>> =
  EDGE_CONTROLLERS[DEFAULT_EDGE_CONTROLLER].podLabels;
export const DEFAULT_TLS_SECRET_NAME = 'boltlink-tls';
export const DEFAULT_GATEWAY: GatewayRef = { name: 'boltlink' };
/** Who scrapes the metrics port unless metricsScraperLabels says otherwise: prometheus-operator's Prometheus pods. */
export const DEFAULT_METRICS_SCRAPER_LABELS: Readonly<Record<string, string>> = {
  'app.kubernetes.io/name': 'prometheus',
};

/** PostgreSQL's and Redis's ports unless databasePort and redisPort say otherwise (the NetworkPolicy's egress). */
export const DEFAULT_DATABASE_PORT = 5432;
export const DEFAULT_REDIS_PORT = 6379;

/** The annotation `kubectl rollout history` reads a revision's cause from (Makefile's rollout target sets it too). */
export const CHANGE_CAUSE = 'kubernetes.io/change-cause';

/** The namespace-wide deny-all NetworkPolicy, emitted only for a release with a namespace of its own. */
export const DEFAULT_DENY_NAME = 'default-deny';
/** The API port's name on the container and the Service. */
export const HTTP_PORT_NAME = 'http';
/** DNS, which the pods may always reach (NetworkPolicy egress). */
export const DNS_PORT = 53;

/** Props a release cannot be built from, every one named: make synth prints the message alone. */
export class ReleasePropsError extends Error {}

/** Every prop with its default applied, and what follows from them: resolved once, before any object is built. */
export interface Resolved {
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
  /** How the public reaches the Service: the host of PUBLIC_BASE_URL, through an Ingress and an HTTPRoute. */
  readonly edge: {
    readonly host: string;
    /** PUBLIC_BASE_URL is https: the Ingress terminates TLS with tlsSecret. */
    readonly tls: boolean;
    readonly ingressClassName: string;
    readonly tlsSecret: string;
    readonly certManagerClusterIssuer: string | undefined;
    readonly gateway: GatewayRef;
  };
  /** Pod labels of the API's clients and of the metrics scrapers (NetworkPolicy ingress). */
  readonly clients: {
    readonly api: Readonly<Record<string, string>>;
    readonly metrics: Readonly<Record<string, string>>;
  };
}

export function resolve(props: BoltLinkChartProps): Resolved {
  const environment = props.environment ?? 'prod';
  const sizing = sizingFor(environment);
  const tag = props.image.slice(props.image.lastIndexOf(':') + 1);
  const faultInjection = props.faultInjection ?? false;
  const controller = props.edgeController ?? DEFAULT_EDGE_CONTROLLER;
  const publicUrl = URL.parse(props.publicBaseUrl);
  const problems = [
    (!props.image.includes(':') || tag === 'latest' || tag.includes('/')) &&
      `image '${props.image}' must be repository:tag with a tag other than 'latest'`,
    faultInjection && environment === 'prod' && `faultInjection (true) is refused for environment 'prod'`,
    !(controller in EDGE_CONTROLLERS) &&
      `edgeController '${controller}' is not one of ${Object.keys(EDGE_CONTROLLERS).join(', ')}`,
    // The service answers links at the root of its origin; the edge routes that origin's host.
    !(publicUrl && /^https?:$/.test(publicUrl.protocol) && publicUrl.href === `${publicUrl.origin}/`) &&
      `publicBaseUrl '${props.publicBaseUrl}' must be an http(s) origin (scheme, host, optional port), the host the edge routes`,
  ].filter((p): p is string => typeof p === 'string');
  if (problems.length > 0) throw new ReleasePropsError(problems.join('; '));
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
      MIGRATION_BUDGET_SECONDS: String(sizing.migrationBudgetSeconds),
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
    edge: {
      host: publicUrl!.hostname,
      tls: publicUrl!.protocol === 'https:',
      ingressClassName: props.ingressClassName ?? EDGE_CONTROLLERS[controller].ingressClassName,
      tlsSecret: props.tlsSecretName ?? DEFAULT_TLS_SECRET_NAME,
      certManagerClusterIssuer: props.certManagerClusterIssuer,
      gateway: props.gateway ?? DEFAULT_GATEWAY,
    },
    clients: {
      api: props.apiClientLabels ?? EDGE_CONTROLLERS[controller].podLabels,
      metrics: props.metricsScraperLabels ?? DEFAULT_METRICS_SCRAPER_LABELS,
    },
  };
}

/** An object's metadata: its name and the release's labels. */
export const meta = (r: Resolved, name: string) => ({ name, labels: r.labels });
