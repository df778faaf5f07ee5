import { once } from 'node:events';
import net from 'node:net';
import { createLink, json, sql, startPrivateRedis, startService, uniqueSlug, waitFor } from '../helpers';

describe('when Redis goes down and comes back', () => {
  it('keeps redirecting from PostgreSQL, reports redis down, and recovers without a restart', async () => {
    const redis = await startPrivateRedis();
    const svc = await startService({ REDIS_URL: redis.url, CLICK_FLUSH_INTERVAL_MS: '200' });
    let restarted: Awaited<ReturnType<typeof startPrivateRedis>> | undefined;
    try {
      const slug = uniqueSlug('rd');
      expect((await createLink(svc.url, { url: 'https://example.com/rd', slug })).status).toBe(201);
      const fromDbOnly = uniqueSlug('rdb');
      await sql('INSERT INTO links (slug, url) VALUES ($1, $2)', [fromDbOnly, 'https://example.com/rdb']);

      await redis.stop();

      for (const s of [slug, fromDbOnly, slug]) {
        const res = await fetch(`${svc.url}/${s}`, { redirect: 'manual' });
        expect(res.status).toBe(302);
      }
      const started = Date.now();
      const health = await fetch(`${svc.url}/health`);
      expect(Date.now() - started).toBeLessThan(1_500);
      expect(health.status).toBe(503);
      expect((await json(health)).checks).toEqual({ database: 'ok', redis: 'down' });
      expect((await fetch(`${svc.url}/ready`)).status).toBe(200);
      // Clicks made while Redis was down are buffered in the worker and written to PostgreSQL.
      await waitFor(
        async () =>
          (await sql<{ clicks: string }>('SELECT clicks FROM links WHERE slug = $1', [slug]))[0]?.clicks === '2',
        5_000,
      );

      restarted = await startPrivateRedis(redis.port);
      await waitFor(async () => (await fetch(`${svc.url}/health`)).status === 200, 10_000, 200);
      expect((await json(await fetch(`${svc.url}/health`))).checks).toEqual({ database: 'ok', redis: 'ok' });
      expect((await fetch(`${svc.url}/${slug}`, { redirect: 'manual' })).status).toBe(302);
    } finally {
      await svc.stop();
      await restarted?.stop();
    }
  });
});

describe('when Redis accepts connections but never answers', () => {
  it('answers /health with redis down within the health deadline and keeps redirecting', async () => {
    const sockets: net.Socket[] = [];
    const blackHole = net.createServer((s) => sockets.push(s)).listen(0, '127.0.0.1');
    await once(blackHole, 'listening');
    const port = (blackHole.address() as net.AddressInfo).port;
    const svc = await startService({ REDIS_URL: `redis://127.0.0.1:${port}`, HEALTH_TIMEOUT_MS: '800' });
    try {
      const slug = uniqueSlug('bh');
      expect((await createLink(svc.url, { url: 'https://example.com/bh', slug })).status).toBe(201);
      expect((await fetch(`${svc.url}/${slug}`, { redirect: 'manual' })).status).toBe(302);
      const started = Date.now();
      const health = await fetch(`${svc.url}/health`);
      expect(Date.now() - started).toBeLessThan(1_200);
      expect(health.status).toBe(503);
      expect((await json(health)).checks).toEqual({ database: 'ok', redis: 'down' });
    } finally {
      await svc.stop();
      sockets.forEach((s) => s.destroy());
      blackHole.close();
    }
  });
});
