import { z } from 'zod';
import { DEFAULT_METRICS_PORT, DEFAULT_PORT, MIGRATION_BUDGET_RANGE_SECONDS } from '../../common/contract';

/**
 * The service's configuration: parsed once from the environment, frozen, and
 * the only module that reads `process.env`. Every invalid key is reported in
 * one error so an operator fixes a broken Secret/ConfigMap in one pass.
 */

const int = (min: number, max: number) => {
  const error = `must be a whole number from ${min.toLocaleString('en-US')} to ${max.toLocaleString('en-US')}`;
  return z.coerce.number({ error }).int(error).min(min, error).max(max, error);
};
const list = z.string().transform((s) =>
  s
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v.length > 0),
);
const flag = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

// z.url checks the scheme itself: a value that is not a URL at all ('127.0.0.1:6379',
// 'redis//x') is one problem in the list, never a TypeError from new URL().
const postgresUrl = z.url({
  protocol: /^postgres(ql)?$/,
  error: 'must be a postgres:// or postgresql:// URL (postgresql://user:password@host:5432/database)',
});
const redisUrl = z.url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL (redis://host:6379)' });

/**
 * Every key with what it accepts, its default and its description: the
 * schema is the documentation too (docs/configuration.md is generated from
 * it by `npm run docs`).
 */
export const CONFIG_FIELDS = {
  NODE_ENV: z
    .enum(['development', 'test', 'production'])
    .default('development')
    .describe('`production` refuses `ALLOWED_ORIGINS=*` and `FAULT_INJECTION`, and requires `PUBLIC_BASE_URL`'),
  PORT: int(0, 65535).default(DEFAULT_PORT).describe("the public HTTP port (the chart's containerPort)"),
  DATABASE_URL: postgresUrl.describe('PostgreSQL; never echoed in errors'),
  REDIS_URL: redisUrl.describe('Redis (cache, click buffer, rate-limit counts, cache invalidation); never echoed'),
  REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_:.-]{1,64}$/)
    .default('boltlink:')
    .describe('prefix of every Redis key and channel: several releases can share one Redis'),
  API_TOKENS: list
    .pipe(z.array(z.string().min(16, 'each token needs at least 16 characters')).min(1, 'needs at least one token'))
    .describe('bearer tokens for writes, comma-separated, each ≥ 16 characters, compared in constant time'),
  ALLOWED_ORIGINS: list.default([]).describe('CORS allow-list for `/api`, comma-separated'),
  PUBLIC_BASE_URL: z
    .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
    .optional()
    .describe('origin of `shortUrl`, and links pointing back at it are refused; unset: `http://localhost:<PORT>`'),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .describe('pino JSON on stdout with `reqId`; Authorization and cookies are redacted'),
  ACCESS_LOG_SAMPLE_RATE: z.coerce
    .number()
    .min(0)
    .max(1)
    .default(1)
    .describe('share of requests written to the access log (1: every one)'),
  DB_POOL_SIZE: int(1, 500).default(10).describe("each worker's PostgreSQL connections; under PM2 from the sizing"),
  DB_CONNECT_TIMEOUT_MS: int(100, 60_000).default(1_000).describe('fail fast instead of queueing'),
  DB_STATEMENT_TIMEOUT_MS: int(100, 600_000).default(5_000).describe('PostgreSQL cancels a statement after it'),
  REDIS_COMMAND_TIMEOUT_MS: int(10, 60_000)
    .default(500)
    .describe('a Redis that accepts connections but hangs fails within it'),
  CACHE_TTL_SECONDS: int(1, 7 * 86_400)
    .default(3_600)
    .describe('how long a link stays in Redis'),
  NEGATIVE_CACHE_TTL_SECONDS: int(1, 3_600).default(5).describe('how long "no such link" is remembered'),
  LOCAL_CACHE_MAX_ENTRIES: int(1, 10_000_000)
    .default(50_000)
    .describe('links each worker keeps in its own LRU cache, at most (50,000 90-character URLs: about 14 MiB)'),
  LOCAL_CACHE_MAX_MIB: int(1, 4_096)
    .default(16)
    .describe("heap each worker's cache may take, MiB; under PM2 from the sizing"),
  LOCAL_CACHE_TTL_MS: int(100, 3_600_000)
    .default(10_000)
    .describe(
      'how long a worker serves a link from its own cache without asking Redis: the bound on a lost invalidation',
    ),
  CLICK_FLUSH_INTERVAL_MS: int(100, 600_000).default(1_000).describe('how often buffered clicks reach PostgreSQL'),
  HEALTH_TIMEOUT_MS: int(50, 10_000)
    .default(800)
    .describe("`/health`'s deadline per dependency, and start-up's wait for Redis; under PM2 from the sizing"),
  KEEP_ALIVE_TIMEOUT_MS: int(1_000, 600_000)
    .default(65_000)
    .describe('idle keep-alive sockets close after it: above common load-balancer idle timeouts (60 s)'),
  REQUEST_TIMEOUT_MS: int(1_000, 600_000)
    .default(30_000)
    .describe('a whole request (headers and body) must arrive within it, else 408: the slowloris bound'),
  TRUST_PROXY_HOPS: int(0, 10)
    .default(0)
    .describe(
      "proxies in front of the pod whose `X-Forwarded-For` names the client (0: the socket's address); the chart sets 1",
    ),
  RATE_LIMIT_CREATES: int(0, 1_000_000)
    .default(120)
    .describe(
      'link creations per client (IPv6: per /64) per window, counted in Redis across pods; 0: off. Redirects never',
    ),
  RATE_LIMIT_WINDOW_SECONDS: int(1, 86_400).default(60).describe("the rate limit's fixed window"),
  SHUTDOWN_DRAIN_MS: int(0, 60_000)
    .default(1_000)
    .describe('on SIGTERM/SIGINT, unready and still serving this long before closing; under PM2 from the sizing'),
  SHUTDOWN_TIMEOUT_MS: int(100, 600_000)
    .default(8_000)
    .describe('the whole shutdown, drain included, at most; under PM2 from the sizing'),
  PM2_INSTANCES: int(1, 1024)
    .optional()
    .describe('workers per pod, baked into the image from the sizing; `/health` compares it with the CPU quota'),
  NODE_APP_INSTANCE: int(0, 4096).default(0).describe("set by PM2: this worker's instance number"),
  METRICS_PORT: int(0, 65535)
    .default(DEFAULT_METRICS_PORT)
    .describe("the pod's Prometheus port (never the public one); 0 turns the metrics server off"),
  METRICS_TIMEOUT_MS: int(10, 10_000).default(500).describe("deadline for collecting every worker's metrics"),
  FAST_REDIRECTS: flag
    .default(true)
    .describe(
      'worker-cache hits are redirected before Express, identically (docs/api.md); `false`: Express answers all',
    ),
  MIGRATION_BUDGET_SECONDS: int(MIGRATION_BUDGET_RANGE_SECONDS.min, MIGRATION_BUDGET_RANGE_SECONDS.max)
    .default(600)
    .describe(
      "longest `npm run db:migrate` (and the pod that applies a release's migrations) may take; a statement still running then is cancelled. The chart sets the sizing's migrationBudgetSeconds",
    ),
  MIGRATION_LOCK_TIMEOUT_MS: int(50, 60_000)
    .default(2_000)
    .describe(
      "longest a migration's statement waits for a table's lock before it gives up and retries: the service's queries never queue behind a migration waiting for a lock longer than this",
    ),
  FAULT_INJECTION: flag
    .default(false)
    .describe('test-only `/__fault/*` routes (crash, leak, whoami, block, unready) for the fault suite'),
};

type Fields = typeof CONFIG_FIELDS;
type Parsed = { [K in keyof Fields]: z.infer<Fields[K]> };

/**
 * Rules across keys, each run when the keys it reads parsed: reported with
 * the keys' own problems in the same error, so one pass fixes everything.
 */
const CROSS_KEY_RULES: readonly ((c: Partial<Parsed>) => string | undefined)[] = [
  (c) =>
    c.NODE_ENV === 'production' && c.ALLOWED_ORIGINS?.includes('*')
      ? "ALLOWED_ORIGINS: '*' is refused when NODE_ENV=production"
      : undefined,
  (c) =>
    c.NODE_ENV === 'production' && 'PUBLIC_BASE_URL' in c && !c.PUBLIC_BASE_URL
      ? 'PUBLIC_BASE_URL: is required when NODE_ENV=production'
      : undefined,
  (c) =>
    c.NODE_ENV === 'production' && c.FAULT_INJECTION
      ? 'FAULT_INJECTION: is refused when NODE_ENV=production'
      : undefined,
  (c) =>
    c.SHUTDOWN_DRAIN_MS !== undefined &&
    c.SHUTDOWN_TIMEOUT_MS !== undefined &&
    c.SHUTDOWN_DRAIN_MS >= c.SHUTDOWN_TIMEOUT_MS
      ? `SHUTDOWN_DRAIN_MS: (${c.SHUTDOWN_DRAIN_MS}) must be below SHUTDOWN_TIMEOUT_MS (${c.SHUTDOWN_TIMEOUT_MS})`
      : undefined,
];

export interface Config extends Readonly<Omit<Parsed, 'API_TOKENS' | 'ALLOWED_ORIGINS' | 'PUBLIC_BASE_URL'>> {
  readonly API_TOKENS: readonly string[];
  readonly ALLOWED_ORIGINS: readonly string[];
  /** Public origin used in `shortUrl` and to refuse links that point back at the service. */
  readonly PUBLIC_BASE_URL: string;
  /** Above `keepAliveTimeout` (older Nodes cut idle sockets mid-request otherwise), never above REQUEST_TIMEOUT_MS. */
  readonly HEADERS_TIMEOUT_MS: number;
}

/** Thrown with every bad key in one message. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

/** Parses `env` (default `process.env`) into a frozen Config or throws ConfigError. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const c = parse(CONFIG_FIELDS, env, CROSS_KEY_RULES) as Parsed;
  return Object.freeze({
    ...c,
    API_TOKENS: Object.freeze([...c.API_TOKENS]),
    ALLOWED_ORIGINS: Object.freeze([...c.ALLOWED_ORIGINS]),
    PUBLIC_BASE_URL: (c.PUBLIC_BASE_URL ?? `http://localhost:${c.PORT}`).replace(/\/+$/, ''),
    HEADERS_TIMEOUT_MS: Math.min(c.KEEP_ALIVE_TIMEOUT_MS + 1_000, c.REQUEST_TIMEOUT_MS),
  });
}

const MIGRATE_FIELDS = {
  DATABASE_URL: CONFIG_FIELDS.DATABASE_URL,
  LOG_LEVEL: CONFIG_FIELDS.LOG_LEVEL,
  MIGRATION_BUDGET_SECONDS: CONFIG_FIELDS.MIGRATION_BUDGET_SECONDS,
  MIGRATION_LOCK_TIMEOUT_MS: CONFIG_FIELDS.MIGRATION_LOCK_TIMEOUT_MS,
};
export type MigrateConfig = Readonly<{ [K in keyof typeof MIGRATE_FIELDS]: z.infer<(typeof MIGRATE_FIELDS)[K]> }>;

/** The migration command needs only the database: it runs without the API's secrets. */
export function loadMigrateConfig(env: NodeJS.ProcessEnv = process.env): MigrateConfig {
  return Object.freeze(parse(MIGRATE_FIELDS, env, []) as MigrateConfig);
}

/** Each key parsed on its own, then the rules across keys; throws ConfigError with every problem. */
function parse(
  fields: Record<string, z.ZodType>,
  env: NodeJS.ProcessEnv,
  rules: readonly ((c: Record<string, unknown>) => string | undefined)[],
): Record<string, unknown> {
  const parsed: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, field] of Object.entries(fields)) {
    const result = field.safeParse(env[key]);
    if (result.success) {
      parsed[key] = result.data;
      continue;
    }
    const value = env[key];
    const shown =
      key === 'API_TOKENS' || key.endsWith('_URL') || value === undefined ? '' : ` (got ${JSON.stringify(value)})`;
    const issue = result.error.issues[0]!;
    const message = value === undefined && issue.code === 'invalid_type' ? 'is required' : issue.message;
    problems.push(`${key}: ${message}${shown}`);
  }
  for (const rule of rules) {
    const problem = rule(parsed);
    if (problem) problems.push(problem);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return parsed;
}
