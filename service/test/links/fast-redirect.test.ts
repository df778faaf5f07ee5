import { Redis } from 'ioredis';
import { encodeCachedLink, linkKey } from '../../../service/src/links/cache';
import { isLinkSlug } from '../../../service/src/links/validation';
import {
  accessLog,
  countedMetrics,
  delta,
  sendToBoth,
  startPair,
  statusLines,
  storedClicks,
  type Answer,
  type Pair,
  type SeedLink,
} from '../../../test-support/differential';
import { startPrivatePostgres } from '../../../test-support/faults';
import { freePort, sqlAt, TOKEN } from '../../../test-support/service';
import { REQUEST_TIMEOUT_MS } from './bad-input.fixtures';
import { corpus, HOST, LINKS, LIVE_SLUGS, SLUGS, variants, type Case } from './fast-redirect.fixtures';

/**
 * The fast redirect (service/src/links/fast-redirect.ts) against Express,
 * through the one redirect pipeline both call (service/src/links/redirects.ts):
 * the same raw requests to a service with FAST_REDIRECTS on and one with it
 * off (test-support/differential.ts), answers compared byte for byte, then
 * the /metrics deltas, the access log and the clicks stored. Each test starts
 * its own pair, so none depends on another having run.
 */

const WAIT_MS = REQUEST_TIMEOUT_MS * 4;
const pairs: Pair[] = [];
async function pair(
  links: readonly SeedLink[] = LINKS,
  overrides: Record<string, string | undefined> = {},
  adminUrl?: string,
) {
  const p = await startPair(links, { REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS), ...overrides }, adminUrl);
  pairs.push(p);
  return p;
}
afterEach(async () => {
  await Promise.all(pairs.splice(0).map((p) => p.drop()));
});

function expectSameAnswers(answers: readonly Answer[]): void {
  for (const a of answers) expect({ name: a.name, answer: a.fast }).toEqual({ name: a.name, answer: a.express });
}

/**
 * The two left the same traces: /metrics deltas (read before they stop), then,
 * once both have stopped and flushed, the access log lines (each generated
 * request id logged is one an answer carried) and the clicks in PostgreSQL.
 * Returns the fast service's deltas and clicks for the test's own checks.
 */
async function expectSameEffects(p: Pair) {
  const [metrics, expressMetrics] = await Promise.all(
    [p.fast, p.express].map(async (s) => delta(await countedMetrics(s.metricsPort), s.before)),
  );
  expect(metrics).toEqual(expressMetrics);
  await p.shutdown();
  expect(accessLog(p.fast)).toEqual(accessLog(p.express));
  for (const s of [p.fast, p.express]) {
    const logged = s.logs.filter((l) => l.msg === 'request' && !String(l.reqId).startsWith('fp.req-'));
    expect(new Set(logged.map((l) => l.reqId))).toEqual(s.generated);
  }
  const clicks = await storedClicks(p.fast);
  expect(clicks).toEqual(await storedClicks(p.express));
  return { metrics, clicks: Object.fromEntries(clicks.map((r) => [r.slug, r.clicks])) };
}

const GET_REDIRECTS = 'http_request_duration_seconds_count{method="GET",route="/:slug",status="302"}';
const lookups = (tier: string, result: string) => `boltlink_cache_lookups_total{tier="${tier}",result="${result}"}`;

describe('the fast redirect', () => {
  it('answers as Express does, byte for byte, from cold caches and then warm ones', async () => {
    const p = await pair();
    // One plain GET per slug first, one at a time: which request fills each cache is then the same in both.
    // Its live links miss the worker cache and are redirected from PostgreSQL, before Express.
    const cold = await sendToBoth(
      p,
      SLUGS.map((s) => variants(s)[0]!),
      WAIT_MS,
      1,
    );
    expect(p.fast.answeredFast.count).toBe(LIVE_SLUGS.size);
    // Every case, twice; the slowloris cases of the corpus wait out REQUEST_TIMEOUT_MS.
    const warm = [await sendToBoth(p, corpus(), WAIT_MS), await sendToBoth(p, corpus(), WAIT_MS)];
    for (const pass of [cold, ...warm]) expectSameAnswers(pass);
    // The corpus exercised the fast path: warm hits redirected (302) in every shape it takes …
    expect(statusLines(warm[1]!).filter((l) => l === 'HTTP/1.1 302 Found').length).toBeGreaterThan(50);
    // … and the fast path gave exactly the answers it takes, for the live links of both warm passes.
    const takes = corpus()
      .filter((c: Case) => LIVE_SLUGS.has(c.name.split(':')[0]!))
      .reduce((n, c) => n + (c.fast ?? 0), 0);
    expect(p.fast.answeredFast.count).toBe(LIVE_SLUGS.size + 2 * takes);
    expect(p.express.answeredFast.count).toBe(0);

    const { metrics, clicks } = await expectSameEffects(p);
    expect(metrics[GET_REDIRECTS]).toBeGreaterThan(100);
    expect(metrics['http_request_duration_seconds_count{method="HEAD",route="/:slug",status="302"}']).toBeGreaterThan(
      10,
    );
    expect(metrics[lookups('local', 'hit')]).toBeGreaterThan(100);
    expect(metrics[lookups('database', 'hit')]).toBe(LINKS.length);
    expect(accessLog(p.fast).filter((l) => l.includes(' /:slug 302 ')).length).toBeGreaterThan(100);
    // Every redirect of fp-plain was clicked once, whichever path answered it.
    const redirectsOf = (slug: string) =>
      [cold, ...warm]
        .flat()
        .filter((a) => a.name.startsWith(`${slug}:`))
        .flatMap((a) => (a.fast as { responses: { statusLine: string }[] }).responses)
        .filter((r) => r.statusLine === 'HTTP/1.1 302 Found').length;
    expect(redirectsOf('fp-plain')).toBeGreaterThan(40);
    expect(clicks['fp-plain']).toBe(redirectsOf('fp-plain'));
  }, 120_000);

  it('answers every tier’s misses as Express does: Redis, PostgreSQL, no such link, expired', async () => {
    const inRedis = [
      { slug: 'fp-redis', link: { url: 'https://example.com/from-redis', expiresAtMs: null } },
      // Redis answers before PostgreSQL is asked: its copy wins, as it does in Express.
      { slug: 'fp-plain', link: { url: 'https://example.com/redis-copy', expiresAtMs: null } },
      { slug: 'fp-redis-expired', link: { url: 'https://example.com/old', expiresAtMs: Date.now() - 1_000 } },
    ];
    const p = await pair();
    for (const s of [p.fast, p.express]) {
      const redis = new Redis(process.env.REDIS_URL!, { keyPrefix: s.redisPrefix });
      for (const { slug, link } of inRedis) await redis.set(linkKey(slug), encodeCachedLink(link));
      await redis.set(linkKey('fp-redis-missing'), '-');
      redis.disconnect();
    }
    const slugs = [...new Set([...SLUGS, ...inRedis.map((r) => r.slug), 'fp-redis-missing'])];
    const answers = await sendToBoth(
      p,
      slugs.flatMap((s) => [variants(s)[0]!, variants(s)[1]!]),
      WAIT_MS,
      1,
    );
    expectSameAnswers(answers);
    expect(JSON.stringify(answers.find((a) => a.name === 'fp-plain: GET')!.fast)).toContain('redis-copy');
    const { metrics } = await expectSameEffects(p);
    expect(metrics[lookups('redis', 'hit')]).toBe(inRedis.length + 1);
    expect(metrics[lookups('database', 'hit')]).toBe(LINKS.length - 1);
    // Each GET missed the worker cache and filled it; each HEAD after it hit.
    expect(metrics[lookups('local', 'hit')]).toBe(slugs.filter(isLinkSlug).length);
  });

  it('sends a link that expired while cached on to Express (410), as Express would answer', async () => {
    const p = await pair();
    const slug = 'fp-soon';
    const expiresAt = Date.now() + 1_500;
    for (const s of [p.fast, p.express]) {
      await sqlAt(
        s.databaseUrl,
        'INSERT INTO links (slug, url, expires_at) VALUES ($1, $2, to_timestamp($3 / 1000.0))',
        [slug, 'https://example.com/soon', expiresAt],
      );
    }
    // One GET fills the caches, then hits while live.
    const [getSoon, headSoon] = variants(slug);
    const live = [
      ...(await sendToBoth(p, [getSoon!], WAIT_MS)),
      ...(await sendToBoth(p, [getSoon!, headSoon!], WAIT_MS)),
    ];
    expect(statusLines(live)).toEqual(Array(3).fill('HTTP/1.1 302 Found'));
    await new Promise((r) => setTimeout(r, expiresAt + 100 - Date.now()));
    const expired = await sendToBoth(p, variants(slug), WAIT_MS);
    expectSameAnswers([...live, ...expired]);
    expect(JSON.stringify(expired[0])).toContain('410 Gone');
    const { clicks } = await expectSameEffects(p);
    expect(clicks[slug]).toBe(3);
  });

  it('answers a deleted link with 404 on the next request, as Express does', async () => {
    const p = await pair();
    const del = `DELETE /api/links/fp-plain HTTP/1.1\r\n${HOST}authorization: Bearer ${TOKEN}\r\n\r\n`;
    // One request at a time: which of them misses, joins a lookup or hits is then the same in both.
    const before = await sendToBoth(p, variants('fp-plain').slice(0, 2), WAIT_MS, 1);
    const deleted = await sendToBoth(p, [{ name: 'delete', chunks: [del] }], WAIT_MS);
    const after = await sendToBoth(p, variants('fp-plain'), WAIT_MS, 1);
    expectSameAnswers([...before, ...deleted, ...after]);
    expect(statusLines(before)).toEqual(['HTTP/1.1 302 Found', 'HTTP/1.1 302 Found']);
    expect(statusLines(deleted)).toEqual(['HTTP/1.1 204 No Content']);
    expect(statusLines(after).filter((l) => l === 'HTTP/1.1 404 Not Found').length).toBeGreaterThan(10);
    await expectSameEffects(p);
  });

  it('answers with Connection: close while the worker drains, as Express does', async () => {
    const p = await pair(LINKS, { SHUTDOWN_DRAIN_MS: '1500' });
    await sendToBoth(p, [variants('fp-plain')[0]!], WAIT_MS);
    const stopping = p.shutdown();
    const answers = await sendToBoth(p, ['fp-plain', 'fp-missing'].flatMap(variants), WAIT_MS);
    expectSameAnswers(answers);
    expect(JSON.stringify(answers.find((a) => a.name === 'fp-plain: GET')!.fast)).toContain('"Connection","close"');
    await stopping;
  });

  it('redirects from PostgreSQL while Redis cannot be reached, as Express does, and stores every click', async () => {
    const p = await pair(LINKS, { REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    const answers = await sendToBoth(
      p,
      SLUGS.flatMap((s) => variants(s).slice(0, 3)),
      WAIT_MS,
      1,
    );
    expectSameAnswers(answers);
    expect(statusLines(answers).filter((l) => l === 'HTTP/1.1 302 Found').length).toBe(3 * LIVE_SLUGS.size);
    const { metrics, clicks } = await expectSameEffects(p);
    expect(metrics[lookups('redis', 'error')]).toBe(SLUGS.filter(isLinkSlug).length);
    expect(clicks['fp-plain']).toBe(3);
  });

  it('redirects what the worker caches and answers 503 for the rest while PostgreSQL is down, as Express does', async () => {
    const pg = await startPrivatePostgres();
    try {
      const p = await pair(LINKS, { DB_CONNECT_TIMEOUT_MS: '500' }, pg.url);
      const warm = await sendToBoth(p, [variants('fp-plain')[0]!], WAIT_MS);
      await pg.stop();
      const down = await sendToBoth(
        p,
        ['fp-plain', 'fp-query', 'fp-missing'].flatMap((s) => variants(s).slice(0, 3)),
        WAIT_MS,
        1,
      );
      expectSameAnswers([...warm, ...down]);
      expect(statusLines(down)).toEqual([
        ...Array(3).fill('HTTP/1.1 503 Service Unavailable'),
        ...Array(3).fill('HTTP/1.1 302 Found'),
        ...Array(3).fill('HTTP/1.1 503 Service Unavailable'),
      ]);
      await pg.start();
      const { clicks } = await expectSameEffects(p);
      expect(clicks['fp-plain']).toBe(4);
    } finally {
      await Promise.all(pairs.splice(0).map((p) => p.drop()));
      await pg.destroy();
    }
  });
});
