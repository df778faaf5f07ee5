import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { getHeapStatistics } from 'node:v8';
import { createApp } from './app';
import { clientError, expectationFailed } from './http';
import { ConfigError, loadConfig, type Config } from './config';
import { createDatabase, pingDatabase } from './db/client';
import { assessSizing, readCgroupLimits, type SizingReport } from './health/sizing-guard';
import { Lifecycle } from './lifecycle';
import { LinkCache } from './links/cache';
import { ClickCounter } from './links/clicks';
import { LinkService } from './links/service';
import { createLogger, type Logger } from './logger';
import { createMetrics } from './metrics/registry';
import { startMetricsServer } from './metrics/server';
import { createRedis, waitForRedis } from './redis';

export interface Running {
  readonly server: Server;
  readonly port: number;
  readonly sizing: SizingReport;
  /** Drains and closes everything; resolves when done (does not exit). */
  shutdown(signal: string): Promise<void>;
}

const MiB = 1024 * 1024;
/** How often Node checks requests against REQUEST_TIMEOUT_MS/HEADERS_TIMEOUT_MS (its default, 30 s, lets a slow client overstay by that much). */
const TIMEOUT_CHECK_INTERVAL_MS = 1_000;

/**
 * Wires the worker, listens, and only then reports ready: PM2's `wait_ready`
 * holds a reload until the new worker has called process.send('ready').
 */
export async function start(config: Config, log: Logger = createLogger(config)): Promise<Running> {
  const lifecycle = new Lifecycle();
  const db = createDatabase(config);
  const redis = createRedis(config);
  const clicks = new ClickCounter(redis, db.prisma, log);
  const sizing = assessSizing(
    config.PM2_INSTANCES ?? 1,
    Math.round(getHeapStatistics().heap_size_limit / MiB),
    readCgroupLimits(),
  );
  if (sizing.status === 'mismatch') log.warn({ sizing }, `container sizing mismatch: ${sizing.problems?.join('; ')}`);
  const metrics = createMetrics({ db, redis, sizing, workerIndex: config.NODE_APP_INSTANCE });
  const links = new LinkService(
    db.prisma,
    new LinkCache(redis, config.CACHE_TTL_SECONDS, config.NEGATIVE_CACHE_TTL_SECONDS),
    clicks,
    config,
    log,
    metrics,
  );

  const app = createApp({ config, log, db, redis, links, lifecycle, sizing, metrics });
  const server = createServer(
    {
      requestTimeout: config.REQUEST_TIMEOUT_MS,
      headersTimeout: config.HEADERS_TIMEOUT_MS,
      connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
      requireHostHeader: false,
    },
    app,
  );
  server.on('clientError', clientError);
  server.on('checkExpectation', expectationFailed);
  // Above common load-balancer idle timeouts, so the balancer, not Node, closes idle connections.
  server.keepAliveTimeout = config.KEEP_ALIVE_TIMEOUT_MS;
  server.listen(config.PORT);
  await once(server, 'listening');
  await pingDatabase(db);
  await waitForRedis(redis, config.HEALTH_TIMEOUT_MS);
  const metricsServer =
    config.METRICS_PORT > 0
      ? await startMetricsServer(
          metrics,
          {
            port: config.METRICS_PORT,
            workerIndex: config.NODE_APP_INSTANCE,
            workers: config.PM2_INSTANCES ?? 1,
            timeoutMs: config.METRICS_TIMEOUT_MS,
          },
          log,
        )
      : undefined;
  clicks.start(config.CLICK_FLUSH_INTERVAL_MS);
  lifecycle.serving();
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  log.info({ port, workers: sizing.workers }, 'listening');

  let closing: Promise<void> | undefined;
  const shutdown = (signal: string) => (closing ??= drain(signal));
  async function drain(signal: string): Promise<void> {
    log.info({ signal, drainMs: config.SHUTDOWN_DRAIN_MS }, 'draining');
    lifecycle.draining();
    // Requests arriving during the drain still succeed but carry Connection: close,
    // so keep-alive clients move to another worker/pod before we stop accepting.
    await new Promise((r) => setTimeout(r, config.SHUTDOWN_DRAIN_MS));
    // close() stops accepting and drops idle keep-alive sockets; sockets that go idle
    // later (their last response already said Connection: close) are swept until done.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    const sweep = setInterval(() => server.closeIdleConnections(), 100);
    await closed;
    clearInterval(sweep);
    await clicks.stop().catch((err: unknown) => log.error({ err }, 'final click flush failed'));
    await metricsServer?.close();
    // disconnect() after quit(): a Redis that never answered would otherwise keep reconnecting.
    await Promise.allSettled([db.close(), redis.quit().finally(() => redis.disconnect())]);
    log.info('shutdown complete');
  }
  return { server, port, sizing, shutdown };
}

/** The process entry (service/src/main.ts): config, process-level handlers, signals. */
export async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
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
  const running = await start(config, log);
  process.send?.('ready');
  // pm2 stops and reloads workers with SIGINT; Kubernetes and docker stop send SIGTERM.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      const force = setTimeout(() => {
        log.error({ timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, 'shutdown deadline passed; forcing exit');
        process.exit(1);
      }, config.SHUTDOWN_TIMEOUT_MS);
      force.unref();
      void running.shutdown(signal).then(() => process.exit(0));
    });
  }
}
