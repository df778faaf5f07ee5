import { createLink, json, sql, startPrivateRedis, uniqueSlug } from '../../../test-support/service';
import { pm2Cluster } from '../../../test-support/pm2';
import { failures, keepAliveLoad, kinds, reportFault, seconds, sleep, timeUntil } from '../../../test-support/faults';

describe('Redis killed under load (PM2 cluster, private redis-server)', () => {
  it('keeps redirecting from PostgreSQL with 0 failures, counts clicks, reports it, and recovers without a restart', async () => {
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
      const whileDownChecks = { dbOnly: [] as number[], ready: 0, clicksStoredAfterMs: 0 };

      const fault = (async () => {
        await sleep(2_000);
        await redis.stop('SIGKILL');
        window.killed = Date.now();
        downAfterMs = await timeUntil(async () => (await fetch(`${cluster.base}/health`)).status === 503, 5_000);
        healthWhileDown = (await json(await fetch(`${cluster.base}/health`))).checks;
        // A link no cache has seen is served from PostgreSQL; its clicks go straight there.
        const fromDbOnly = uniqueSlug('rkdb');
        await sql('INSERT INTO links (slug, url) VALUES ($1, $2)', [fromDbOnly, 'https://example.com/rkdb']);
        for (let i = 0; i < 3; i++) {
          const res = await fetch(`${cluster.base}/${fromDbOnly}`, {
            redirect: 'manual',
            headers: { connection: 'close' },
          });
          whileDownChecks.dbOnly.push(res.status);
        }
        whileDownChecks.ready = (await fetch(`${cluster.base}/ready`)).status;
        whileDownChecks.clicksStoredAfterMs = await timeUntil(
          async () =>
            (await sql<{ clicks: string }>('SELECT clicks FROM links WHERE slug = $1', [fromDbOnly]))[0]?.clicks ===
            '3',
          5_000,
        );
        await sleep(2_000);
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
          `a link only PostgreSQL knew: ${whileDownChecks.dbOnly.join(',')}, its clicks stored ` +
          `${seconds(whileDownChecks.clicksStoredAfterMs)} later; /ready ${whileDownChecks.ready}; ` +
          `healthy ${seconds(recoveredAfterMs)} after Redis returned; worker restarts ${restarts}`,
      );
      expect(kinds(failures(outcomes))).toBe('none');
      expect(new Set(outcomes.map((o) => o.status))).toEqual(new Set([302]));
      expect(whileDown).toBeGreaterThan(100);
      expect(healthWhileDown).toEqual({ database: 'ok', redis: 'down' });
      expect(whileDownChecks).toMatchObject({ dbOnly: [302, 302, 302], ready: 200 });
      expect(recoveredAfterMs).toBeLessThan(15_000);
      expect(after.map((w) => w.pid).sort()).toEqual(before.map((w) => w.pid).sort());
      expect(restarts).toBe(0);
    } finally {
      await cluster.kill();
      await back?.stop();
    }
  });
});
