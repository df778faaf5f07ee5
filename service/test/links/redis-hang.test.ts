import { once } from 'node:events';
import net from 'node:net';
import { createLink, freePort, json, startService, uniqueSlug } from '../../../test-support/service';

describe('when Redis accepts connections but never answers', () => {
  const sockets: net.Socket[] = [];
  let blackHole: net.Server;
  let redisUrl: string;
  beforeAll(async () => {
    blackHole = net.createServer((s) => sockets.push(s)).listen(0, '127.0.0.1');
    await once(blackHole, 'listening');
    redisUrl = `redis://127.0.0.1:${(blackHole.address() as net.AddressInfo).port}`;
  });
  afterAll(() => {
    sockets.forEach((s) => s.destroy());
    blackHole.close();
  });

  it('answers /health with redis down within the health deadline and keeps redirecting', async () => {
    const svc = await startService({ REDIS_URL: redisUrl, HEALTH_TIMEOUT_MS: '800' });
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
    }
  });

  // Under PM2 the master hands connections to every worker that listens: one that listened
  // while still connecting would answer its share of a Ready pod's requests 503 "starting".
  it('takes no connection while start-up waits for it (the health deadline), and serves from the first it takes', async () => {
    const port = await freePort();
    const slug = uniqueSlug('bh');
    const starting = startService({ REDIS_URL: redisUrl, HEALTH_TIMEOUT_MS: '1500', PORT: String(port) });
    const answers: string[] = [];
    let started = false;
    void starting.then(
      () => (started = true),
      () => (started = true),
    );
    while (!started) {
      const r = await fetch(`http://127.0.0.1:${port}/${slug}`, { redirect: 'manual' }).catch(
        (err: { cause?: { code?: string } }) => err.cause?.code ?? 'error',
      );
      answers.push(typeof r === 'string' ? r : String(r.status));
      await new Promise((res) => setTimeout(res, 50));
    }
    const svc = await starting;
    try {
      expect(answers.length).toBeGreaterThan(10);
      // Refused while connecting, then the slug's own answer (404: it does not exist); never 503.
      expect(new Set(answers)).toEqual(new Set(answers.includes('404') ? ['ECONNREFUSED', '404'] : ['ECONNREFUSED']));
      expect((await fetch(`${svc.url}/${slug}`, { redirect: 'manual' })).status).toBe(404);
    } finally {
      await svc.stop();
    }
  });
});
