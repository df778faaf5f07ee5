import { Writable } from 'node:stream';
import pino from 'pino';
import { loadConfig } from '../src/config';
import { migrate } from '../src/db/migrate';
import { start, type Running } from '../src/server';
import { createScratchDatabase } from '../../test-support/databases';
import { freePort, sql, sqlAt, testEnv, TOKEN, uniqueSlug } from '../../test-support/service';

/**
 * One `route` label per route, whatever the outcome: the request histogram and
 * the access log agree, for a success and each kind of error of every route,
 * including the 503 a worker answers while the schema is behind its release.
 */
interface Labelled {
  readonly running: Running;
  readonly base: string;
  readonly metricsPort: number;
  readonly logs: { msg: string; method?: string; route?: string; status?: number }[];
}

async function startLabelled(env: Record<string, string>): Promise<Labelled> {
  const logs: Labelled['logs'] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(line));
      done();
    },
  });
  const metricsPort = await freePort();
  const config = loadConfig(testEnv({ LOG_LEVEL: 'info', METRICS_PORT: String(metricsPort), ...env }));
  const running = await start(config, pino({ level: 'info' }, sink));
  return { running, base: `http://127.0.0.1:${running.port}`, metricsPort, logs };
}

type Request = { method: string; path: string; body?: string; headers?: Record<string, string> };
const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

async function send(s: Labelled, r: Request): Promise<number> {
  const res = await fetch(`${s.base}${r.path}`, {
    method: r.method,
    headers: r.headers,
    body: r.body,
    redirect: 'manual',
  });
  await res.arrayBuffer();
  return res.status;
}

/** Every `method route status` the histogram counted. */
async function histogramLabels(s: Labelled): Promise<Set<string>> {
  const text = await (await fetch(`http://127.0.0.1:${s.metricsPort}/metrics`)).text();
  const labels = new Set<string>();
  for (const m of text.matchAll(
    /^http_request_duration_seconds_count\{method="(\w+)",route="([^"]+)",status="(\d+)"\}/gm,
  )) {
    labels.add(`${m[1]} ${m[2]} ${m[3]}`);
  }
  return labels;
}

const accessLabels = (s: Labelled) =>
  new Set(s.logs.filter((l) => l.msg === 'request').map((l) => `${l.method} ${l.route} ${l.status}`));

describe('the route label', () => {
  const running: Labelled[] = [];
  afterAll(async () => {
    await Promise.all(running.map((s) => s.running.shutdown('test')));
  });

  it('is the route’s template for its success and each of its errors', async () => {
    const s = await startLabelled({ RATE_LIMIT_CREATES: '6' });
    running.push(s);
    const [taken, expired] = [uniqueSlug('rl'), uniqueSlug('rl')];
    await sql(
      "INSERT INTO links (slug, url, expires_at) VALUES ($1, 'https://example.com/e', now() - interval '1 day')",
      [expired],
    );
    const create = (body: unknown, headers: Record<string, string> = auth) => ({
      method: 'POST',
      path: '/api/links',
      headers,
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const cases: [Request, number, string][] = [
      [create({ url: 'https://example.com/a', slug: taken }), 201, '/api/links'],
      [create({ url: 'not a url' }), 400, '/api/links'],
      [create({ url: 'https://example.com/b' }, { 'content-type': 'application/json' }), 401, '/api/links'],
      [create({ url: 'https://example.com/c', slug: taken }), 409, '/api/links'],
      [create('x', { ...auth, 'content-type': 'text/plain' }), 415, '/api/links'],
      [create({ url: `https://example.com/${'x'.repeat(20_000)}` }), 413, '/api/links'],
      // The limit (6 per window) counts every create above: this one is the seventh.
      [create({ url: 'https://example.com/d' }), 429, '/api/links'],
      [{ method: 'GET', path: `/api/links/${taken}` }, 200, '/api/links/:slug'],
      [{ method: 'GET', path: '/api/links/no-such-link' }, 404, '/api/links/:slug'],
      [{ method: 'DELETE', path: `/api/links/${taken}` }, 401, '/api/links/:slug'],
      [{ method: 'DELETE', path: '/api/links/no-such-link', headers: auth }, 404, '/api/links/:slug'],
      [{ method: 'GET', path: `/${expired}` }, 410, '/:slug'],
      [{ method: 'GET', path: '/no-such-link' }, 404, '/:slug'],
      [{ method: 'DELETE', path: `/api/links/${taken}`, headers: auth }, 204, '/api/links/:slug'],
    ];
    await sql("INSERT INTO links (slug, url) VALUES ($1, 'https://example.com/r')", [`${taken}-r`]);
    cases.push([{ method: 'GET', path: `/${taken}-r` }, 302, '/:slug']);
    for (const [request, status] of cases)
      expect([request.method, request.path.slice(0, 40), await send(s, request)]).toEqual([
        request.method,
        request.path.slice(0, 40),
        status,
      ]);
    const expected = cases.map(([r, status, route]) => `${r.method} ${route} ${status}`);
    const counted = await histogramLabels(s);
    for (const label of expected) expect(counted).toContain(label);
    await new Promise((r) => setTimeout(r, 50));
    const logged = accessLabels(s);
    for (const label of expected) expect(logged).toContain(label);
    expect([...counted].filter((l) => l.includes(' /links') || l.includes(' unmatched'))).toEqual([]);
  });

  it('is the route’s template for the 503 a worker answers while its schema is behind', async () => {
    const db = await createScratchDatabase(process.env.BOLTLINK_TEST_ADMIN_URL!, 'boltlink_labels');
    try {
      await migrate(db.url);
      await sqlAt(
        db.url,
        'DELETE FROM "_prisma_migrations" WHERE migration_name = (SELECT max(migration_name) FROM "_prisma_migrations")',
      );
      const s = await startLabelled({ DATABASE_URL: db.url });
      running.push(s);
      const requests: [Request, string][] = [
        [{ method: 'POST', path: '/api/links', headers: auth, body: '{"url":"https://example.com/w"}' }, '/api/links'],
        [{ method: 'GET', path: '/api/links/some-link' }, '/api/links/:slug'],
        [{ method: 'DELETE', path: '/api/links/some-link', headers: auth }, '/api/links/:slug'],
        [{ method: 'GET', path: '/some-link' }, '/:slug'],
      ];
      for (const [r] of requests) expect(await send(s, r)).toBe(503);
      const counted = await histogramLabels(s);
      for (const [r, route] of requests) expect(counted).toContain(`${r.method} ${route} 503`);
      await s.running.shutdown('test');
    } finally {
      await db.drop();
    }
  });
});
