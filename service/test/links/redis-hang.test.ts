import { once } from 'node:events';
import net from 'node:net';
import { createLink, json, startService, uniqueSlug } from '../../../test-support/service';

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
