import { Client } from 'pg';
import { migrate } from '../../src/db/migrate';
import { createLink, TOKEN, uniqueSlug } from '../helpers';
import { pm2Cluster } from '../pm2/pm2-helpers';
import {
  failures,
  keepAliveLoad,
  kinds,
  reportFault,
  request,
  seconds,
  startPrivatePostgres,
  timeUntil,
} from './fault-helpers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const FAIL_FAST_MS = 1_000;

async function query<T extends Record<string, unknown>>(url: string, text: string, params: unknown[] = []) {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(text, params)).rows;
  } finally {
    await c.end();
  }
}

describe('PostgreSQL stopped under load (PM2 cluster, private postgres)', () => {
  it('serves cached redirects, fails the rest fast with 503 JSON, and recovers without losing clicks', async () => {
    const pg = await startPrivatePostgres();
    await query(pg.url, 'CREATE DATABASE boltlink');
    const dbUrl = pg.dbUrl('boltlink');
    await migrate(dbUrl);
    const cluster = await pm2Cluster({ DATABASE_URL: dbUrl, LOG_LEVEL: 'warn', CLICK_FLUSH_INTERVAL_MS: '200' });
    try {
      const cached: string[] = [];
      for (let i = 0; i < 20; i++) {
        const slug = uniqueSlug('pgc');
        expect((await createLink(cluster.base, { url: `https://example.com/pgc/${i}`, slug })).status).toBe(201);
        cached.push(slug);
      }
      const uncached = Array.from({ length: 20 }, () => uniqueSlug('pgu'));
      await query(
        dbUrl,
        "INSERT INTO links (slug, url) SELECT s, 'https://example.com/pgu' FROM unnest($1::text[]) s",
        [uncached],
      );
      const before = await cluster.online();
      const probes: { what: string; status?: number; error?: string; ms: number; code?: string }[] = [];
      const probe = async (what: string, path: string, body?: string) => {
        const started = Date.now();
        const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
        const r = await request(
          `${cluster.base}${path}`,
          undefined,
          5_000,
          body ? { method: 'POST', body, headers } : {},
        );
        const code = r.body?.startsWith('{') ? JSON.parse(r.body).error?.code : undefined;
        probes.push({ what, status: r.status, error: r.error, ms: Date.now() - started, code });
      };
      let readyDownMs = 0;
      let recoveredMs = 0;

      const fault = (async () => {
        await sleep(2_000);
        await pg.stop();
        readyDownMs = await timeUntil(async () => (await fetch(`${cluster.base}/ready`)).status === 503, 5_000);
        for (let i = 0; i < 5; i++) {
          await probe('uncached redirect', `/${uncached[i]}`);
          await probe(
            'create',
            `/api/links`,
            JSON.stringify({ url: 'https://example.com/while-down', slug: uniqueSlug('pgw') }),
          );
        }
        await sleep(2_000);
        await pg.start();
        recoveredMs = await timeUntil(async () => (await fetch(`${cluster.base}/ready`)).status === 200, 15_000);
      })();
      const [{ outcomes }] = await Promise.all([
        keepAliveLoad({
          base: cluster.base,
          path: (i, conn) => `/${cached[(i + conn) % cached.length]}`,
          connections: 16,
          durationMs: 12_000,
          maxRequests: 500_000,
          timeoutMs: 3_000,
        }),
        fault,
      ]);

      const created = await createLink(cluster.base, { url: 'https://example.com/after', slug: uniqueSlug('pga') });
      const uncachedAfter = await fetch(`${cluster.base}/${uncached[10]}`, { redirect: 'manual' });
      const redirects = outcomes.filter((o) => o.status === 302).length;
      const clicks = async () =>
        Number(
          (
            await query<{ n: string }>(dbUrl, 'SELECT coalesce(sum(clicks), 0) AS n FROM links WHERE slug = ANY($1)', [
              cached,
            ])
          )[0]!.n,
        );
      const flushedMs = await timeUntil(async () => (await clicks()) >= redirects, 15_000).catch(() => -1);
      const after = await cluster.jlist();
      const restarts = after.reduce((n, w) => n + w.pm2_env.restart_time, 0);
      const slowest = Math.max(...probes.map((p) => p.ms));

      reportFault(
        `postgres stopped under load: ${outcomes.length} cached redirects, ${failures(outcomes).length} failures; ` +
          `uncached reads and creates while down: ${kinds(probes.map((p) => ({ ...p, conn: 0, t: 0 })))}, slowest ${slowest} ms; ` +
          `/ready 503 after ${seconds(readyDownMs)}; ready ${seconds(recoveredMs)} after PostgreSQL accepted connections again; ` +
          `clicks ${await clicks()} of ${redirects} redirects in PostgreSQL ${seconds(flushedMs)} later; worker restarts ${restarts}`,
      );
      expect(kinds(failures(outcomes))).toBe('none');
      expect(probes).toHaveLength(10);
      for (const p of probes) {
        expect({ what: p.what, status: p.status, code: p.code }).toEqual({
          what: p.what,
          status: 503,
          code: 'service_unavailable',
        });
        expect(p.ms).toBeLessThan(FAIL_FAST_MS);
      }
      expect(created.status).toBe(201);
      expect(uncachedAfter.status).toBe(302);
      expect(recoveredMs).toBeLessThan(10_000);
      expect(await clicks()).toBe(redirects);
      expect(after.map((w) => w.pid).sort()).toEqual(before.map((w) => w.pid).sort());
      expect(restarts).toBe(0);
    } finally {
      await cluster.kill();
      await pg.destroy();
    }
  });
});
