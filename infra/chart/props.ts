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

/** The namespace-wide deny-all NetworkPolicy, emitted only for a release with a namespace of its own. */
export const DEFAULT_DENY_NAME = 'default-deny';
/** The API port's name on the container and the Service. */
export const HTTP_PORT_NAME = 'http';
/** DNS, which the pods may always reach (NetworkPolicy egress). */
export const DNS_PORT = 53;

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
    clients: {
      api: props.apiClientLabels ?? DEFAULT_API_CLIENT_LABELS,
      metrics: props.metricsScraperLabels ?? DEFAULT_METRICS_SCRAPER_LABELS,
    },
  };
}

/** An object's metadata: its name and the release's labels. */
export const meta = (r: Resolved, name: string) => ({ name, labels: r.labels });
