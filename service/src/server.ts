import { createServer, type Server } from 'node:http';
import { getHeapStatistics } from 'node:v8';
import type { Redis } from 'ioredis';
import { BYTES_PER_MIB, CONFIG_ERROR_EXIT_CODE } from '../../common/contract';
import { createApp } from './app';
import { clientError, expectationFailed, RequestContext } from './http';
import { ConfigError, loadConfig, type Config } from './config';
import { createDatabase, reachDatabase, type Database } from './db/client';
import { schemaStatus, type SchemaStatus } from './db/schema';
import { StartupError } from './errors';
import { assessSizing, readCgroupLimits, type CgroupLimits, type SizingReport } from './health/sizing-guard';
import { LinkCache } from './links/cache';
import { Invalidations } from './links/invalidation';
import { fastRedirects } from './links/fast-redirect';
import { LocalLinkCache } from './links/local-cache';
import { ClickCounter } from './links/clicks';
import { Redirects } from './links/redirects';
import { LinkService } from './links/service';
import { createLogger, type Logger } from './logger';
import { createMetrics, type Metrics } from './metrics/registry';
import { startMetricsServer } from './metrics/server';
import { createRedis, redisAddress, waitForRedis } from './redis';
import { listening } from './listening';
import { drain, exitOnSignals, Lifecycle } from './shutdown';

export interface Running {
  readonly server: Server;
  readonly port: number;
  readonly sizing: SizingReport;
  /** Resolves once the worker serves: at once, or when the database schema has caught up with this release. */
  readonly ready: Promise<void>;
  /** Drains and closes everything; resolves when done (does not exit). */
  shutdown(signal: string): Promise<void>;
}

/** How often Node checks requests against REQUEST_TIMEOUT_MS/HEADERS_TIMEOUT_MS (its default, 30 s, lets a slow client overstay by that much). */
const TIMEOUT_CHECK_INTERVAL_MS = 1_000;
/** What the final click flush leaves of the shutdown deadline for closing the pools and connections, ms. */
const CLOSE_MARGIN_MS = 300;
/** How often a worker waiting for `npm run db:migrate` looks again, quietly. */
const SCHEMA_RECHECK_MS = 2_000;

/**
 * Wires the worker, connects, listens, and only then reports ready. It
 * listens only once connected: under PM2 the master hands connections to
 * every worker that listens, so a worker listening while it still connects
 * would answer its share of a Ready pod's requests 503 "starting". PM2's `wait_ready`
 * holds a reload until the new worker has called process.send('ready').
 * Start-up needs PostgreSQL once (a failure is a StartupError naming
 * DATABASE_URL and its address); after that, readiness follows only this
 * worker (starting, draining), never a shared dependency.
 */
export interface StartOptions {
  /** The container's CPU and memory limits. @default read from this process's cgroup */
  readonly cgroupLimits?: CgroupLimits;
}

export async function start(
  config: Config,
  log: Logger = createLogger(config),
  options: StartOptions = {},
): Promise<Running> {
  const lifecycle = new Lifecycle();
  const worker = wire(config, log, lifecycle, options);
  const { first, metricsServer } = await connect(config, worker, log);
  const server = await listen(config, worker, lifecycle).catch(async (err: unknown) => {
    await metricsServer?.close();
    await worker.closeConnections();
    throw err;
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;

  let stopped = false;
  const serving = serveOnceSchemaFits(config, worker, lifecycle, log, { first, port, stopped: () => stopped });
  let deadlineMs = 0;
  const release = async () => {
    // Clicks exist only once the worker has served (requests are refused before).
    if (serving.served()) await worker.clicks.stop(deadlineMs - CLOSE_MARGIN_MS);
    await metricsServer?.close();
    await worker.closeConnections();
  };
  let closing: Promise<void> | undefined;
  const shutdown = (signal: string) => {
    stopped = true;
    deadlineMs ||= Date.now() + config.SHUTDOWN_TIMEOUT_MS;
    return (closing ??= drain(signal, { lifecycle, server, drainMs: config.SHUTDOWN_DRAIN_MS, release, log }));
  };
  return { server, port, sizing: worker.sizing, ready: serving.ready, shutdown };
}

/** What one worker is made of, wired by `wire`. */
interface Worker {
  readonly db: Database;
  readonly redis: Redis;
  readonly clicks: ClickCounter;
  readonly sizing: SizingReport;
  readonly metrics: Metrics;
  readonly invalidations: Invalidations;
  readonly redirects: Redirects;
  readonly requests: RequestContext;
  readonly app: ReturnType<typeof createApp>;
  /** Closes PostgreSQL, the invalidation subscriber and Redis. */
  closeConnections(): Promise<void>;
}

/** Connections, the sizing check, caches, metrics and the Express app; nothing listens yet. */
function wire(config: Config, log: Logger, lifecycle: Lifecycle, options: StartOptions): Worker {
  const db = createDatabase(config);
  const redis = createRedis(config);
  const clicks = new ClickCounter(redis, db.prisma, log, redisAddress(config.REDIS_URL));
  const sizing = assessSizing(
    config.PM2_INSTANCES ?? 1,
    Math.round(getHeapStatistics().heap_size_limit / BYTES_PER_MIB),
    options.cgroupLimits ?? readCgroupLimits(),
  );
  if (sizing.status === 'mismatch') log.warn({ sizing }, `container sizing mismatch: ${sizing.problems?.join('; ')}`);
  if (config.NODE_ENV === 'production' && config.ALLOWED_ORIGINS.length === 0) {
    log.warn(
      'ALLOWED_ORIGINS is empty: browsers on other origins cannot call the API (CORS); redirects are unaffected',
    );
  }
  const local = new LocalLinkCache({
    maxEntries: config.LOCAL_CACHE_MAX_ENTRIES,
    maxMiB: config.LOCAL_CACHE_MAX_MIB,
    ttlMs: config.LOCAL_CACHE_TTL_MS,
    missingTtlMs: config.NEGATIVE_CACHE_TTL_SECONDS * 1000,
  });
  const metrics = createMetrics({
    db,
    redis,
    sizing,
    workerIndex: config.NODE_APP_INSTANCE,
    localEntries: () => local.size,
    ready: () => lifecycle.ready,
  });
  const invalidations = new Invalidations(redis, config.REDIS_KEY_PREFIX, local, metrics.invalidations, log);
  const cache = new LinkCache(redis, config.CACHE_TTL_SECONDS, config.NEGATIVE_CACHE_TTL_SECONDS);
  const links = new LinkService(db.prisma, cache, invalidations, clicks, config, log, metrics);
  const redirects = new Redirects(local, cache, db.pool, clicks, lifecycle, metrics);
  const requests = new RequestContext(log, lifecycle, config.ACCESS_LOG_SAMPLE_RATE, metrics.httpDuration);
  const app = createApp({ config, log, db, redis, links, redirects, lifecycle, sizing, metrics, requests });
  // disconnect() after quit(): a Redis that never answered would otherwise keep reconnecting.
  const closeConnections = () =>
    Promise.allSettled([db.close(), invalidations.close(), redis.quit().finally(() => redis.disconnect())]).then(
      () => undefined,
    );
  return { db, redis, clicks, sizing, metrics, invalidations, redirects, requests, app, closeConnections };
}

/** The HTTP server: timeouts, the fast redirect in front of Express (unless FAST_REDIRECTS=false), listening. */
async function listen(config: Config, worker: Worker, lifecycle: Lifecycle): Promise<Server> {
  const { app, redirects, requests } = worker;
  const server = createServer(
    {
      requestTimeout: config.REQUEST_TIMEOUT_MS,
      headersTimeout: config.HEADERS_TIMEOUT_MS,
      connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
      requireHostHeader: false,
    },
    config.FAST_REDIRECTS ? fastRedirects(app, redirects, requests) : app,
  );
  lifecycle.trackConnections(server);
  server.on('clientError', clientError);
  server.on('checkExpectation', expectationFailed);
  // Above common load-balancer idle timeouts, so the balancer, not Node, closes idle connections.
  server.keepAliveTimeout = config.KEEP_ALIVE_TIMEOUT_MS;
  server.listen(config.PORT);
  await listening(server, 'PORT', config.PORT);
  return server;
}

/**
 * PostgreSQL (once, with the schema's state), Redis, the invalidation subscriber, then the
 * metrics server; before the API port listens. A database that cannot be read closes
 * everything and is a StartupError.
 */
async function connect(config: Config, worker: Worker, log: Logger) {
  let first: SchemaStatus;
  try {
    await reachDatabase(worker.db, config.DATABASE_URL);
    first = await schemaStatus(worker.db.pool);
  } catch (err) {
    await worker.closeConnections();
    throw err instanceof StartupError ? err : new StartupError(`reading the schema's migrations: ${String(err)}`);
  }
  await waitForRedis(worker.redis, config.HEALTH_TIMEOUT_MS);
  await worker.invalidations.ready(config.HEALTH_TIMEOUT_MS);
  const metricsServer =
    config.METRICS_PORT > 0
      ? await startMetricsServer(
          worker.metrics,
          { port: config.METRICS_PORT, workerIndex: config.NODE_APP_INSTANCE, timeoutMs: config.METRICS_TIMEOUT_MS },
          log,
        ).catch(async (err: unknown) => {
          await worker.closeConnections();
          throw err;
        })
      : undefined;
  return { first, metricsServer };
}

/**
 * Serves at once when the database has every migration this release ships; otherwise says so
 * once, answers /ready 503 and re-checks quietly until `npm run db:migrate` has run (or the
 * worker stops). `served()` says whether it ever served.
 */
function serveOnceSchemaFits(
  config: Config,
  worker: Worker,
  lifecycle: Lifecycle,
  log: Logger,
  at: { first: SchemaStatus; port: number; stopped: () => boolean },
): { ready: Promise<void>; served: () => boolean } {
  const { first, port } = at;
  let served = false;
  const serve = () => {
    served = true;
    worker.clicks.start(config.CLICK_FLUSH_INTERVAL_MS);
    lifecycle.serving();
    log.info({ port, workers: worker.sizing.workers }, 'listening');
  };
  if (first.unknown.length > 0) {
    log.warn(
      { unknown: first.unknown },
      `the database has migrations this release does not ship (${first.unknown.join(', ')}): an older release on a newer schema; serving`,
    );
  }
  if (first.missing.length === 0) {
    serve();
    return { ready: Promise.resolve(), served: () => served };
  }
  const reason = `database schema is behind this release (${first.missing.length} migration(s) not applied: ${first.missing.join(', ')}): run npm run db:migrate`;
  // One line, then quiet re-checks: nothing else runs against the old schema meanwhile.
  log.error({ missing: first.missing }, reason);
  lifecycle.waiting(reason);
  const ready = (async () => {
    for (;;) {
      await new Promise((r) => setTimeout(r, SCHEMA_RECHECK_MS));
      if (at.stopped()) return;
      const now = await schemaStatus(worker.db.pool).catch(() => first);
      if (now.missing.length === 0) break;
    }
    log.info('database schema caught up with this release');
    serve();
  })();
  return { ready, served: () => served };
}

/** The process entry (service/src/main.ts): config, process-level handlers, signals. */
export async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(CONFIG_ERROR_EXIT_CODE);
  }
  const log = createLogger(config);
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception; exiting so PM2 restarts the worker');
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    log.fatal({ err }, 'unhandled rejection; exiting so PM2 restarts the worker');
    process.exit(1);
  });
  let running: Running;
  try {
    running = await start(config, log);
  } catch (err) {
    if (!(err instanceof StartupError)) throw err;
    process.stderr.write(`start-up failed: ${err.message}\n`);
    process.exit(1);
  }
  exitOnSignals(running.shutdown, config.SHUTDOWN_TIMEOUT_MS, log);
  await running.ready;
  process.send?.('ready');
}
