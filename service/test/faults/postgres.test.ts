import { migrate } from '../../src/db/migrate';
import { createLink, sqlAt as query, TOKEN, uniqueSlug } from '../../../test-support/service';
import { pm2Cluster } from '../../../test-support/pm2';
import {
  failures,
  keepAliveLoad,
  kinds,
  reportFault,
  request,
  seconds,
  sleep,
  startPrivatePostgres,
  timeUntil,
} from '../../../test-support/faults';

interface Probe {
  what: string;
  status?: number;
  error?: string;
  ms: number;
  code?: string;
}

/**
 * A PM2 cluster on a private PostgreSQL, 20 cached and 20 uncached links,
 * cached redirects under keep-alive load for 12 s; at 2 s `breakIt` runs,
 * then uncached redirects and creates are probed one by one, and after 2 s
 * more `mendIt` runs. Returns what the load and the probes saw.
 */
async function databaseFault(
  env: Record<string, string>,
  breakIt: (pg: Awaited<ReturnType<typeof startPrivatePostgres>>) => Promise<void> | void,
  mendIt: (pg: Awaited<ReturnType<typeof startPrivatePostgres>>) => Promise<void> | void,
) {
  const pg = await startPrivatePostgres();
  await query(pg.url, 'CREATE DATABASE boltlink');
  const dbUrl = pg.dbUrl('boltlink');
  await migrate(dbUrl);
  const cluster = await pm2Cluster({ DATABASE_URL: dbUrl, LOG_LEVEL: 'warn', CLICK_FLUSH_INTERVAL_MS: '200', ...env });
  try {
    const cached: string[] = [];
    for (let i = 0; i < 20; i++) {
      const slug = uniqueSlug('pgc');
      expect((await createLink(cluster.base, { url: `https://example.com/pgc/${i}`, slug })).status).toBe(201);
      cached.push(slug);
    }
    const uncached = Array.from({ length: 20 }, () => uniqueSlug('pgu'));
    await query(dbUrl, "INSERT INTO links (slug, url) SELECT s, 'https://example.com/pgu' FROM unnest($1::text[]) s", [
      uncached,
    ]);
    const before = await cluster.online();
    const probes: Probe[] = [];
    const probe = async (what: string, path: string, body?: string) => {
      const started = Date.now();
      const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
      const r = await request(
        `${cluster.base}${path}`,
        undefined,
        10_000,
        body ? { method: 'POST', body, headers } : {},
      );
      const code = r.body?.startsWith('{') ? JSON.parse(r.body).error?.code : undefined;
      probes.push({ what, status: r.status, error: r.error, ms: Date.now() - started, code });
    };
    let healthDownMs = 0;
    let recoveredMs = 0;
    // Readiness must not follow the shared database: a pod kept in the Service keeps serving cached redirects.
    const readyDuringOutage: number[] = [];
    const ready = async () => readyDuringOutage.push((await fetch(`${cluster.base}/ready`)).status);
    const health = async () => (await fetch(`${cluster.base}/health`)).status;

    const fault = (async () => {
      await sleep(2_000);
      await breakIt(pg);
      healthDownMs = await timeUntil(async () => (await health()) === 503, 5_000);
      for (let i = 0; i < 5; i++) {
        await ready();
        await probe('uncached redirect', `/${uncached[i]}`);
        const create = JSON.stringify({ url: 'https://example.com/while-down', slug: uniqueSlug('pgw') });
        await probe('create', `/api/links`, create);
      }
      await sleep(2_000);
      await ready();
      await mendIt(pg);
      recoveredMs = await timeUntil(async () => (await health()) === 200, 15_000);
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
    const clicks = async () => {
      const rows = await query<{ n: string }>(
        dbUrl,
        'SELECT coalesce(sum(clicks), 0) AS n FROM links WHERE slug = ANY($1)',
        [cached],
      );
      return Number(rows[0]!.n);
    };
    const flushedMs = await timeUntil(async () => (await clicks()) >= redirects, 15_000).catch(() => -1);
    const after = await cluster.jlist();
    return {
      outcomes,
      probes,
      healthDownMs,
      readyDuringOutage,
      recoveredMs,
      flushedMs,
      redirects,
      clicks: await clicks(),
      created: created.status,
      uncachedAfter: uncachedAfter.status,
      restarts: after.reduce((n, w) => n + w.pm2_env.restart_time, 0),
      samePids:
        after
          .map((w) => w.pid)
          .sort()
          .join() ===
        before
          .map((w) => w.pid)
          .sort()
          .join(),
    };
  } finally {
    await cluster.kill();
    await pg.destroy();
  }
}

type Result = Awaited<ReturnType<typeof databaseFault>>;

const summary = (name: string, r: Result, mended: string) =>
  `${name}: ${r.outcomes.length} cached redirects, ${failures(r.outcomes).length} failures; ` +
  `uncached reads and creates meanwhile: ${kinds(r.probes.map((p) => ({ ...p, conn: 0, t: 0 })))}, ` +
  `slowest ${Math.max(...r.probes.map((p) => p.ms))} ms; /ready ${kinds(r.readyDuringOutage.map((status) => ({ status, conn: 0, t: 0, ms: 0 })))} ` +
  `during the outage; /health 503 after ${seconds(r.healthDownMs)}, healthy ${seconds(r.recoveredMs)} after ${mended}; clicks ${r.clicks} of ${r.redirects} redirects in PostgreSQL ` +
  `${seconds(r.flushedMs)} later; worker restarts ${r.restarts}`;

function expectServedAndRecovered(r: Result, maxProbeMs: number) {
  expect(kinds(failures(r.outcomes))).toBe('none');
  expect(r.probes).toHaveLength(10);
  for (const p of r.probes) {
    expect({ what: p.what, status: p.status, code: p.code }).toEqual({
      what: p.what,
      status: 503,
      code: 'service_unavailable',
    });
    expect(p.ms).toBeLessThan(maxProbeMs);
  }
  expect(r.readyDuringOutage).toEqual([200, 200, 200, 200, 200, 200]);
  expect(r.created).toBe(201);
  expect(r.uncachedAfter).toBe(302);
  expect(r.recoveredMs).toBeLessThan(10_000);
  expect(r.clicks).toBe(r.redirects);
  expect(r.samePids).toBe(true);
  expect(r.restarts).toBe(0);
}

describe('PostgreSQL failing under load (PM2 cluster, private postgres)', () => {
  it('stopped: stays ready and serves cached redirects, fails the rest within 1 s with 503 JSON, recovers without losing clicks', async () => {
    const r = await databaseFault(
      {},
      (pg) => pg.stop(),
      (pg) => pg.start(),
    );
    reportFault(summary('postgres stopped under load', r, 'PostgreSQL accepted connections again'));
    expectServedAndRecovered(r, 1_000);
  });

  it('hanging (SIGSTOP): the rest fail with 503 within the statement timeout instead of hanging; recovers', async () => {
    const statementTimeoutMs = 1_000;
    const r = await databaseFault(
      { DB_STATEMENT_TIMEOUT_MS: String(statementTimeoutMs) },
      (pg) => pg.freeze(),
      (pg) => pg.thaw(),
    );
    reportFault(
      summary(`postgres hanging (SIGSTOP, DB_STATEMENT_TIMEOUT_MS=${statementTimeoutMs}) under load`, r, 'SIGCONT'),
    );
    // A query in flight waits the statement timeout plus the client margin; a new connection the connect timeout.
    expectServedAndRecovered(r, 3 * statementTimeoutMs);
  });
});
