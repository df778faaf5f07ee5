import { createLink, json, startPrivateRedis, uniqueSlug } from '../helpers';
import { pm2Cluster } from '../pm2/pm2-helpers';
import { failures, keepAliveLoad, kinds, reportFault, seconds, sleep, timeUntil } from './fault-helpers';

describe('Redis killed under load (PM2 cluster, private redis-server)', () => {
  it('keeps redirecting from PostgreSQL with 0 failures, reports it, and recovers without a restart', async () => {
    const redis = await startPrivateRedis();
    const cluster = await pm2Cluster({ REDIS_URL: redis.url, LOG_LEVEL: 'warn' });
    let back: Awaited<ReturnType<typeof startPrivateRedis>> | undefined;
    try {
      const slugs: string[] = [];
      for (let i = 0; i < 20; i++) {
        const slug = uniqueSlug('rk');
        expect((await createLink(cluster.base, { url: `https://example.com/rk/${i}`, slug })).status).toBe(201);
        slugs.push(slug);
      }
      const before = await cluster.online();
      const window = { killed: 0, returned: 0 };
      let downAfterMs = 0;
      let recoveredAfterMs = 0;
      let healthWhileDown: unknown;

      const fault = (async () => {
        await sleep(2_000);
        await redis.stop('SIGKILL');
        window.killed = Date.now();
        downAfterMs = await timeUntil(async () => (await fetch(`${cluster.base}/health`)).status === 503, 5_000);
        healthWhileDown = (await json(await fetch(`${cluster.base}/health`))).checks;
        await sleep(3_000);
        back = await startPrivateRedis(redis.port);
        window.returned = Date.now();
        recoveredAfterMs = await timeUntil(async () => (await fetch(`${cluster.base}/health`)).status === 200, 15_000);
      })();
      const [{ outcomes, startedAt }] = await Promise.all([
        keepAliveLoad({
          base: cluster.base,
          path: (i, conn) => `/${slugs[(i + conn) % slugs.length]}`,
          connections: 16,
          durationMs: 12_000,
          maxRequests: 500_000,
          timeoutMs: 3_000,
        }),
        fault,
      ]);
      const whileDown = outcomes.filter(
        (o) => startedAt + o.t >= window.killed && startedAt + o.t < window.returned,
      ).length;
      const after = await cluster.jlist();
      const restarts = after.reduce((n, w) => n + w.pm2_env.restart_time, 0);

      reportFault(
        `redis killed (SIGKILL) under load: ${outcomes.length} requests (${whileDown} while Redis was down), ` +
          `${failures(outcomes).length} failures [${kinds(outcomes)}]; /health 503 after ${seconds(downAfterMs)}; ` +
          `healthy ${seconds(recoveredAfterMs)} after Redis returned; worker restarts ${restarts}`,
      );
      expect(kinds(failures(outcomes))).toBe('none');
      expect(new Set(outcomes.map((o) => o.status))).toEqual(new Set([302]));
      expect(whileDown).toBeGreaterThan(100);
      expect(healthWhileDown).toEqual({ database: 'ok', redis: 'down' });
      expect(recoveredAfterMs).toBeLessThan(15_000);
      expect(after.map((w) => w.pid).sort()).toEqual(before.map((w) => w.pid).sort());
      expect(restarts).toBe(0);
    } finally {
      await cluster.kill();
      await back?.stop();
    }
  });
});
