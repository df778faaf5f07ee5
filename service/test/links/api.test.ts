import type { Redis } from 'ioredis';
import {
  createLink,
  json,
  redisFor,
  sql,
  startService,
  TOKEN,
  SECOND_TOKEN,
  uniqueSlug,
  waitFor,
  type TestService,
} from '../../../test-support/service';

/** One CPU and far more memory than any heap: the guard's verdict does not depend on the machine running the test. */
const ROOMY_CONTAINER = { cpuQuota: 1, memoryLimitBytes: 64 * 1024 ** 3 };

let svc: TestService;
let redis: Redis;

beforeAll(async () => {
  svc = await startService(
    { CLICK_FLUSH_INTERVAL_MS: '200', ALLOWED_ORIGINS: 'https://app.example.com' },
    { cgroupLimits: ROOMY_CONTAINER },
  );
  redis = redisFor(svc.config);
});
afterAll(async () => {
  await svc.stop();
  redis.disconnect();
});

const get = (path: string, init: RequestInit = {}) => fetch(`${svc.url}${path}`, { redirect: 'manual', ...init });

describe('POST /api/links', () => {
  it('creates a link with a generated 7-character base62 slug and stores it', async () => {
    const res = await createLink(svc.url, { url: 'https://example.com/generated' });
    expect(res.status).toBe(201);
    const body = await json(res);
    expect(body.slug).toMatch(/^[0-9A-Za-z]{7}$/);
    expect(body).toMatchObject({
      url: 'https://example.com/generated',
      shortUrl: `http://sho.rt/${body.slug}`,
      expiresAt: null,
    });
    expect(new Date(body.createdAt).getTime()).toBeGreaterThan(Date.now() - 60_000);
    const rows = await sql('SELECT url FROM links WHERE slug = $1', [body.slug]);
    expect(rows).toEqual([{ url: 'https://example.com/generated' }]);
  });

  it('creates a link with a custom slug and a TTL', async () => {
    const slug = uniqueSlug('custom');
    const res = await createLink(svc.url, { url: 'https://example.com/ttl', slug, ttlSeconds: 3600 });
    expect(res.status).toBe(201);
    const body = await json(res);
    expect(body.slug).toBe(slug);
    expect(new Date(body.expiresAt).getTime() - new Date(body.createdAt).getTime()).toBeGreaterThanOrEqual(3_599_000);
  });

  it('says a missing url is required, and a url that is not a string must be one', async () => {
    const missing = await createLink(svc.url, { slug: uniqueSlug('nourl') });
    expect(missing.status).toBe(400);
    expect((await json(missing)).error).toMatchObject({
      message: 'invalid link: url is required',
      details: [{ field: 'url', message: 'is required' }],
    });
    const number = await createLink(svc.url, { url: 42 });
    expect((await json(number)).error.details).toEqual([{ field: 'url', message: 'must be a string' }]);
  });

  it('returns 409 when the slug is taken, and keeps the first link', async () => {
    const slug = uniqueSlug('taken');
    expect((await createLink(svc.url, { url: 'https://example.com/first', slug })).status).toBe(201);
    const res = await createLink(svc.url, { url: 'https://example.com/second', slug });
    expect(res.status).toBe(409);
    expect((await json(res)).error.code).toBe('slug_taken');
    expect(await sql('SELECT url FROM links WHERE slug = $1', [slug])).toEqual([{ url: 'https://example.com/first' }]);
  });

  it('accepts every token in API_TOKENS and rejects others with 401', async () => {
    const slug = uniqueSlug('tok');
    const post = (token: string) =>
      fetch(`${svc.url}/api/links`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ url: 'https://example.com/tok', slug }),
      });
    const wrong = await post(`${TOKEN}x`);
    expect(wrong.status).toBe(401);
    expect((await json(wrong)).error.code).toBe('unauthorized');
    expect((await post(SECOND_TOKEN)).status).toBe(201);
  });
});

describe('GET /:slug', () => {
  it('redirects with 302 to the stored URL', async () => {
    const slug = uniqueSlug('go');
    await createLink(svc.url, { url: 'https://example.com/target?q=1', slug });
    const res = await get(`/${slug}`);
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('https://example.com/target?q=1');
  });

  it('answers from the cache without PostgreSQL once cached', async () => {
    const slug = uniqueSlug('cached');
    await createLink(svc.url, { url: 'https://example.com/original', slug });
    expect((await get(`/${slug}`)).headers.get('location')).toBe('https://example.com/original');
    // Change and then remove the row behind the cache's back: only a PostgreSQL read could notice.
    await sql('UPDATE links SET url = $2 WHERE slug = $1', [slug, 'https://example.com/changed']);
    expect((await get(`/${slug}`)).headers.get('location')).toBe('https://example.com/original');
    await sql('DELETE FROM links WHERE slug = $1', [slug]);
    const res = await get(`/${slug}`);
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('https://example.com/original');
  });

  it('fills the cache from PostgreSQL on a miss', async () => {
    const slug = uniqueSlug('miss');
    await sql('INSERT INTO links (slug, url) VALUES ($1, $2)', [slug, 'https://example.com/from-db']);
    expect(await redis.get(`link:${slug}`)).toBeNull();
    expect((await get(`/${slug}`)).headers.get('location')).toBe('https://example.com/from-db');
    expect(await redis.get(`link:${slug}`)).toBe('|https://example.com/from-db');
    expect(await redis.ttl(`link:${slug}`)).toBeGreaterThan(3000);
  });

  it('returns 404 JSON for an unknown slug and caches the miss briefly', async () => {
    const slug = uniqueSlug('unknown');
    const res = await get(`/${slug}`);
    expect(res.status).toBe(404);
    expect(await json(res)).toEqual({ error: { code: 'link_not_found', message: `no link with slug '${slug}'` } });
    expect(await redis.get(`link:${slug}`)).toBe('-');
    const ttl = await redis.ttl(`link:${slug}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(5);
  });

  it('serves a link created right after a cached miss', async () => {
    const slug = uniqueSlug('late');
    expect((await get(`/${slug}`)).status).toBe(404);
    await createLink(svc.url, { url: 'https://example.com/late', slug });
    expect((await get(`/${slug}`)).status).toBe(302);
  });

  it('returns 410 once the link has expired', async () => {
    const slug = uniqueSlug('exp');
    await createLink(svc.url, { url: 'https://example.com/exp', slug, ttlSeconds: 1 });
    expect((await get(`/${slug}`)).status).toBe(302);
    await new Promise((r) => setTimeout(r, 1_100));
    const res = await get(`/${slug}`);
    expect(res.status).toBe(410);
    expect((await json(res)).error.code).toBe('link_expired');
  });

  it('returns 404 for reserved words and malformed slugs', async () => {
    for (const path of ['/metrics', '/api', '/ab', `/${'x'.repeat(65)}`, '/bad%20slug']) {
      const res = await get(path);
      expect(res.status).toBe(404);
      expect((await json(res)).error.code).toMatch(/not_found$/);
    }
  });
});

describe('click counting', () => {
  it('counts redirects in Redis and flushes them to PostgreSQL exactly once', async () => {
    const slug = uniqueSlug('clicks');
    await createLink(svc.url, { url: 'https://example.com/clicks', slug });
    for (let i = 0; i < 5; i++) await get(`/${slug}`);
    const before = await json(await get(`/api/links/${slug}`));
    expect(before.clicks).toBe(5);
    await waitFor(
      async () =>
        (await sql<{ clicks: string }>('SELECT clicks FROM links WHERE slug = $1', [slug]))[0]?.clicks === '5',
      5_000,
    );
    await new Promise((r) => setTimeout(r, 500)); // two more flush cycles must not add again
    expect((await sql('SELECT clicks FROM links WHERE slug = $1', [slug]))[0]).toEqual({ clicks: '5' });
    expect((await json(await get(`/api/links/${slug}`))).clicks).toBe(5);
  });
});

describe('GET /api/links/:slug', () => {
  it('returns the link with its clicks', async () => {
    const slug = uniqueSlug('info');
    await createLink(svc.url, { url: 'https://example.com/info', slug });
    const res = await get(`/api/links/${slug}`);
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ slug, url: 'https://example.com/info', clicks: 0, expiresAt: null });
  });

  it('returns 404 for an unknown slug', async () => {
    expect((await get(`/api/links/${uniqueSlug('nope')}`)).status).toBe(404);
  });
});

describe('DELETE /api/links/:slug', () => {
  const del = (slug: string, token = TOKEN) =>
    fetch(`${svc.url}/api/links/${slug}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });

  it('deletes the link and invalidates the cache for every worker at once', async () => {
    const other = await startService({ REDIS_KEY_PREFIX: svc.config.REDIS_KEY_PREFIX });
    try {
      const slug = uniqueSlug('del');
      await createLink(svc.url, { url: 'https://example.com/del', slug });
      expect((await fetch(`${other.url}/${slug}`, { redirect: 'manual' })).status).toBe(302);
      expect((await del(slug)).status).toBe(204);
      expect((await fetch(`${other.url}/${slug}`, { redirect: 'manual' })).status).toBe(404);
      expect((await get(`/${slug}`)).status).toBe(404);
      expect(await sql('SELECT 1 FROM links WHERE slug = $1', [slug])).toEqual([]);
    } finally {
      await other.stop();
    }
  });

  it('returns 401 without a valid token and keeps the link', async () => {
    const slug = uniqueSlug('keep');
    await createLink(svc.url, { url: 'https://example.com/keep', slug });
    expect((await del(slug, 'not-a-valid-token-at-all')).status).toBe(401);
    expect((await get(`/${slug}`)).status).toBe(302);
  });

  it('returns 404 for an unknown slug', async () => {
    expect((await del(uniqueSlug('gone'))).status).toBe(404);
  });
});

describe('probes', () => {
  it('GET /health reports every dependency and the sizing guard', async () => {
    const res = await get('/health');
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body).toMatchObject({ status: 'healthy', checks: { database: 'ok', redis: 'ok' } });
    expect(body.sizing).toMatchObject({ workers: 1, cpuQuota: 1, memoryLimitMiB: 65536, status: 'ok' });
    expect(body.sizing.problems).toBeUndefined();
  });

  it('GET /health reports a container too small for its heap as a mismatch, and stays 200', async () => {
    const small = await startService({}, { cgroupLimits: { cpuQuota: 1, memoryLimitBytes: 64 * 1024 ** 2 } });
    try {
      const res = await fetch(`${small.url}/health`);
      expect(res.status).toBe(200);
      const { sizing } = await json(res);
      expect(sizing).toMatchObject({ workers: 1, memoryLimitMiB: 64, status: 'mismatch' });
      expect(sizing.problems).toEqual([expect.stringContaining('above the 64 MiB memory limit')]);
    } finally {
      await small.stop();
    }
  });

  it('GET /ready and GET /livez answer 200', async () => {
    expect(await json(await get('/ready'))).toEqual({ ready: true });
    expect((await get('/livez')).status).toBe(200);
  });
});

describe('HTTP conventions', () => {
  it('answers unknown routes with 404 JSON', async () => {
    const res = await get('/api/nothing-here', { method: 'POST' });
    expect(res.status).toBe(404);
    expect((await json(res)).error.code).toBe('not_found');
  });

  it('echoes a well-formed X-Request-Id and generates one otherwise', async () => {
    expect((await get('/livez', { headers: { 'x-request-id': 'abc-123' } })).headers.get('x-request-id')).toBe(
      'abc-123',
    );
    expect((await get('/livez', { headers: { 'x-request-id': 'bad id\t' } })).headers.get('x-request-id')).toMatch(
      /^[0-9a-f-]{36}$/,
    );
  });

  it('allows CORS only for ALLOWED_ORIGINS on the API', async () => {
    const allowed = await get('/api/links/whatever', { headers: { origin: 'https://app.example.com' } });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    const denied = await get('/api/links/whatever', { headers: { origin: 'https://evil.example.com' } });
    expect(denied.headers.get('access-control-allow-origin')).toBeNull();
  });
});
