import { randomBytes } from 'node:crypto';
import {
  createLink,
  json,
  sql,
  startPrivateRedis,
  startService,
  TOKEN,
  uniqueSlug,
  type TestService,
} from '../../test-support/service';

const stored = async (slug: string) => (await sql('SELECT 1 FROM links WHERE slug = $1', [slug])).length;

function post(base: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${base}/api/links`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

/** Creates links until one is refused (429) or 10 s pass; the last status. */
async function statusOnceLimiting(base: string): Promise<number> {
  const deadline = Date.now() + 10_000;
  let status = 0;
  while (status !== 429 && Date.now() < deadline) {
    status = (await createLink(base, { url: 'https://example.com/back', slug: uniqueSlug('rlb') })).status;
    await new Promise((r) => setTimeout(r, 100));
  }
  return status;
}

describe('link creation rate limit', () => {
  const services: TestService[] = [];
  const start = async (env: Record<string, string | undefined>) => {
    const svc = await startService(env);
    services.push(svc);
    return svc;
  };
  afterEach(async () => {
    await Promise.all(services.splice(0).map((s) => s.stop()));
  });

  it('answers 429 with Retry-After and a JSON error past the limit, and stores nothing', async () => {
    const svc = await start({ RATE_LIMIT_CREATES: '3', RATE_LIMIT_WINDOW_SECONDS: '60' });
    const remaining: (string | null)[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await createLink(svc.url, { url: 'https://example.com/rl', slug: uniqueSlug('rl') });
      expect(res.status).toBe(201);
      expect(res.headers.get('ratelimit-limit')).toBe('3');
      remaining.push(res.headers.get('ratelimit-remaining'));
    }
    expect(remaining).toEqual(['2', '1', '0']);

    const refused = uniqueSlug('rl-refused');
    const res = await createLink(svc.url, { url: 'https://example.com/rl', slug: refused });
    expect(res.status).toBe(429);
    const retryAfter = Number(res.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    const body = await json(res);
    expect(body.error.code).toBe('rate_limited');
    expect(body.error.message).toMatch(/limit is 3 per 60 s; retry in \d+ s/);
    expect(await stored(refused)).toBe(0);
  });

  it('shares one count per client across workers and pods (the same Redis)', async () => {
    const prefix = `bltest:${randomBytes(4).toString('hex')}:`;
    const env = { RATE_LIMIT_CREATES: '4', REDIS_KEY_PREFIX: prefix };
    const [a, b] = [await start(env), await start(env)];
    const statuses: number[] = [];
    for (const svc of [a, b, a, b, a, b]) {
      statuses.push((await createLink(svc.url, { url: 'https://example.com/s', slug: uniqueSlug('rls') })).status);
    }
    expect(statuses).toEqual([201, 201, 201, 201, 429, 429]);
  });

  it('counts requests with a bad token too, so it also slows token guessing', async () => {
    const svc = await start({ RATE_LIMIT_CREATES: '2' });
    const guesses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await post(
        svc.url,
        { url: 'https://example.com/g' },
        { authorization: `Bearer guess-${i}-xxxxxxxxxxxx` },
      );
      guesses.push(res.status);
    }
    expect(guesses).toEqual([401, 401, 429]);
  });

  it('never limits redirects', async () => {
    const svc = await start({ RATE_LIMIT_CREATES: '1' });
    const slug = uniqueSlug('rlr');
    expect((await createLink(svc.url, { url: 'https://example.com/r', slug })).status).toBe(201);
    expect((await createLink(svc.url, { url: 'https://example.com/r', slug: uniqueSlug('rlr') })).status).toBe(429);
    const statuses = new Set<number>();
    for (let i = 0; i < 50; i++) statuses.add((await fetch(`${svc.url}/${slug}`, { redirect: 'manual' })).status);
    expect([...statuses]).toEqual([302]);
  });

  it('lets a client in again once its window has passed', async () => {
    const svc = await start({ RATE_LIMIT_CREATES: '1', RATE_LIMIT_WINDOW_SECONDS: '1' });
    expect((await createLink(svc.url, { url: 'https://example.com/w', slug: uniqueSlug('rlw') })).status).toBe(201);
    const refused = await createLink(svc.url, { url: 'https://example.com/w', slug: uniqueSlug('rlw') });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    await new Promise((r) => setTimeout(r, 1_100));
    expect((await createLink(svc.url, { url: 'https://example.com/w', slug: uniqueSlug('rlw') })).status).toBe(201);
  });

  it('ignores X-Forwarded-For unless TRUST_PROXY_HOPS says a proxy sets it', async () => {
    const direct = await start({ RATE_LIMIT_CREATES: '1' });
    const spoofed = [];
    for (const ip of ['203.0.113.1', '203.0.113.2']) {
      spoofed.push((await post(direct.url, { url: 'https://example.com/x' }, { 'x-forwarded-for': ip })).status);
    }
    expect(spoofed).toEqual([201, 429]);

    const behindProxy = await start({ RATE_LIMIT_CREATES: '1', TRUST_PROXY_HOPS: '1' });
    const perClient = [];
    for (const ip of ['203.0.113.1', '203.0.113.2', '203.0.113.1']) {
      perClient.push((await post(behindProxy.url, { url: 'https://example.com/x' }, { 'x-forwarded-for': ip })).status);
    }
    expect(perClient).toEqual([201, 201, 429]);
  });

  it('counts an IPv6 client per /64, so rotating addresses inside it does not reset the count', async () => {
    const svc = await start({ RATE_LIMIT_CREATES: '1', TRUST_PROXY_HOPS: '1' });
    const statuses = [];
    for (const ip of ['2001:db8:1:2::1', '2001:db8:1:2:ffff:ffff:ffff:fffe', '2001:db8:1:3::1', '203.0.113.7']) {
      statuses.push((await post(svc.url, { url: 'https://example.com/v6' }, { 'x-forwarded-for': ip })).status);
    }
    expect(statuses).toEqual([201, 429, 201, 201]);
  });

  it('limits with the default settings (120 per 60 s), and says so in its headers', async () => {
    const svc = await start({ RATE_LIMIT_CREATES: undefined, RATE_LIMIT_WINDOW_SECONDS: undefined });
    const res = await createLink(svc.url, { url: 'https://example.com/default', slug: uniqueSlug('rldef') });
    expect(res.status).toBe(201);
    expect(res.headers.get('ratelimit-limit')).toBe('120');
    expect(res.headers.get('ratelimit-policy')).toBe('120;w=60');
  });

  it('limits once Redis is up when the worker started while it was down', async () => {
    const redis = await startPrivateRedis();
    await redis.stop();
    const svc = await start({ REDIS_URL: redis.url, RATE_LIMIT_CREATES: '1' });
    const restarted = await startPrivateRedis(redis.port);
    try {
      expect(await statusOnceLimiting(svc.url)).toBe(429);
    } finally {
      await restarted.stop();
    }
  });

  it('lets creation through while Redis is down (fails open) and limits again when it is back', async () => {
    const redis = await startPrivateRedis();
    const svc = await start({ REDIS_URL: redis.url, RATE_LIMIT_CREATES: '1' });
    let restarted: Awaited<ReturnType<typeof startPrivateRedis>> | undefined;
    try {
      await redis.stop();
      const whileDown = [];
      for (let i = 0; i < 3; i++) {
        whileDown.push((await createLink(svc.url, { url: 'https://example.com/d', slug: uniqueSlug('rld') })).status);
      }
      expect(whileDown).toEqual([201, 201, 201]);

      restarted = await startPrivateRedis(redis.port);
      expect(await statusOnceLimiting(svc.url)).toBe(429);
    } finally {
      await restarted?.stop();
    }
  });
});
