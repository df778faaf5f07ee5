import { Router } from 'express';
import type { Redis } from 'ioredis';
import type { Config } from '../config';
import { pingDatabase, type Database } from '../db/client';
import type { Lifecycle } from '../shutdown';
import type { SizingReport } from './sizing-guard';

export type CheckStatus = 'ok' | 'down';

/** Resolves 'ok' or 'down' within `timeoutMs`, even if the dependency hangs. */
export function check(probe: () => Promise<unknown>, timeoutMs: number): Promise<CheckStatus> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('down'), timeoutMs);
    probe()
      .then(
        () => resolve('ok'),
        () => resolve('down'),
      )
      .finally(() => clearTimeout(timer));
  });
}

export interface HealthDeps {
  readonly db: Database;
  readonly redis: Redis;
  readonly lifecycle: Lifecycle;
  readonly sizing: SizingReport;
  readonly config: Pick<Config, 'HEALTH_TIMEOUT_MS'>;
}

/**
 * Three probes with three jobs:
 * - /livez: the process and its event loop answer. Checks nothing else, so a
 *   database blip never makes Kubernetes restart every pod.
 * - /ready: this worker should get traffic: it has started (reached
 *   PostgreSQL once, on a schema as new as this release) and is not draining.
 *   It never follows a shared dependency afterwards: every pod shares
 *   PostgreSQL, so a database outage would take every pod out of the Service,
 *   and with it the cached redirects the pods keep serving. A database outage
 *   shows in /health and the metrics instead. Answering at all means the
 *   event loop runs.
 * - /health: the operator's view of every dependency plus the sizing guard.
 */
export function healthRoutes(deps: HealthDeps): Router {
  const router = Router();
  const timeout = deps.config.HEALTH_TIMEOUT_MS;

  router.get('/livez', (_req, res) => {
    res.json({ status: 'alive' });
  });

  router.get('/ready', (_req, res) => {
    if (!deps.lifecycle.ready) {
      res.status(503).json({ ready: false, reason: deps.lifecycle.reason });
      return;
    }
    res.json({ ready: true });
  });

  router.get('/health', async (_req, res) => {
    const [database, redis] = await Promise.all([
      check(() => pingDatabase(deps.db), timeout),
      check(() => deps.redis.ping(), timeout),
    ]);
    const healthy = database === 'ok' && redis === 'ok';
    res.status(healthy ? 200 : 503).json({
      status: healthy ? 'healthy' : 'unhealthy',
      checks: { database, redis },
      sizing: deps.sizing,
    });
  });

  return router;
}
