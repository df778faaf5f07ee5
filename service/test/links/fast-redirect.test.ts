import type { IncomingMessage, ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import pino from 'pino';
import { loadConfig } from '../../../service/src/config';
import { migrate } from '../../../service/src/db/migrate';
import { start, type Running } from '../../../service/src/server';
import { createScratchDatabase } from '../../../test-support/databases';
import { freePort, sqlAt, testEnv, TOKEN } from '../../../test-support/service';
import { exchange, type Exchange } from '../../../test-support/wire';
import { cases, rawCases, REQUEST_TIMEOUT_MS, routeCases } from './bad-input.fixtures';

/**
 * The fast redirect (service/src/links/fast-redirect.ts) against Express:
 * the same raw requests to the service with FAST_REDIRECTS at its default
 * (on) and off, each on a database and a Redis prefix of its own seeded
 * alike. Answers are compared byte for byte but for Date and generated
 * request ids; then the /metrics deltas, the access log lines and the clicks
 * stored in PostgreSQL.
 */

type Service = {
  readonly name: string;
  readonly running: Running;
  /** Answers given before Express saw the request. */
  readonly answeredFast: { count: number };
  readonly metricsPort: number;
  readonly databaseUrl: string;
  readonly logs: Record<string, unknown>[];
  drop(): Promise<unknown>;
};

/** Links seeded in both databases, expiring as the SQL says; `live`: not expired. */
const LINKS = [
  { slug: 'fp-plain', url: 'https://example.com/target', expires: 'NULL', live: true },
  { slug: 'fp-Mixed_Case-9', url: 'https://example.com/Mixed', expires: 'NULL', live: true },
  // Encoded by the Location header as Express encodes it (encodeurl): the IDN host and path stay Unicode in the link.
  { slug: 'fp-unicode', url: 'https://例え.テスト/パス/café?q=ü&r=%20', expires: 'NULL', live: true },
  { slug: 'fp-query', url: 'https://example.com/p?a=1&b=two#frag', expires: 'NULL', live: true },
  { slug: 'fp-future', url: 'https://example.com/later', expires: "now() + interval '1 day'", live: true },
  { slug: 'fp-expired', url: 'https://example.com/gone', expires: "now() - interval '1 day'", live: false },
] as const;
/** Slugs the requests name besides the links: unknown, reserved, too short, a reserved word in another case. */
const OTHER_SLUGS = ['fp-missing', 'ready', 'livez', 'admin', 'Api', 'favicon.ico', 'ab', '__proto__'];

interface Case {
  readonly name: string;
  readonly chunks: readonly string[];
  readonly responses?: number;
  readonly heads?: readonly boolean[];
  readonly gapMs?: number;
  /** Responses the fast path gives when the case's slug is a live cached link. @default 0 */
  readonly fast?: number;
}

const HOST = 'Host: sho.rt\r\n';
const get = (target: string, headers = HOST, method = 'GET', version = '1.1') =>
  `${method} ${target} HTTP/${version}\r\n${headers}\r\n`;
let supplied = 0;
/** A request id the corpus supplies (well-formed, so it is kept): unique per request. */
const suppliedId = () => `fp.req-${++supplied}`;

/**
 * Every shape of request a redirect can arrive in, for one slug. `fast`: the
 * responses the fast path gives when the slug is a live link in the worker's
 * cache (docs/api.md lists the same); Express answers the others.
 */
function variants(slug: string): Case[] {
  const encodedFirst = `%${slug.charCodeAt(0).toString(16)}${slug.slice(1)}`;
  const fast = (name: string, chunk: string, heads?: boolean[]): Case => ({
    name: `${slug}: ${name}`,
    chunks: [chunk],
    heads,
    fast: 1,
  });
  const express = (name: string, chunk: string): Case => ({ name: `${slug}: ${name}`, chunks: [chunk] });
  return [
    fast('GET', get(`/${slug}`)),
    fast('HEAD', get(`/${slug}`, HOST, 'HEAD'), [true]),
    fast('query string', get(`/${slug}?utm_source=x&q=%20&a=1`)),
    fast('empty query', get(`/${slug}?`)),
    fast('HOST in capitals', get(`/${slug}`, 'HOST: sho.rt\r\n')),
    fast('HTTP/1.0 without Host', get(`/${slug}`, '', 'GET', '1.0')),
    fast('HTTP/1.0 keep-alive', get(`/${slug}`, `${HOST}Connection: keep-alive\r\n`, 'GET', '1.0')),
    fast('HEAD over HTTP/1.0', get(`/${slug}`, '', 'HEAD', '1.0'), [true]),
    fast('Connection: close', get(`/${slug}`, `${HOST}Connection: close\r\n`)),
    fast('request id kept', get(`/${slug}`, `${HOST}X-Request-Id: ${suppliedId()}\r\n`)),
    fast('malformed request id', get(`/${slug}`, `${HOST}X-Request-Id: has space\r\n`)),
    fast(
      'two request ids',
      get(`/${slug}`, `${HOST}X-Request-Id: ${suppliedId()}\r\nX-Request-Id: ${suppliedId()}\r\n`),
    ),
    fast('Expect: 100-continue', get(`/${slug}`, `${HOST}Expect: 100-continue\r\n`)),
    fast('GET with a body', `GET /${slug} HTTP/1.1\r\n${HOST}Content-Length: 5\r\n\r\nhello`),
    {
      name: `${slug}: pipelined GET, HEAD, GET`,
      chunks: [get(`/${slug}`) + get(`/${slug}`, HOST, 'HEAD') + get(`/${slug}?again`)],
      responses: 3,
      heads: [false, true, false],
      fast: 3,
    },
    express('fragment', get(`/${slug}#frag`)),
    express('trailing slash', get(`/${slug}/`)),
    express('double slash', get(`//${slug}`)),
    express('percent-encoded', get(`/${encodedFirst}`)),
    express('upper case', get(`/${slug.toUpperCase()}`)),
    express('absolute-form', get(`http://sho.rt/${slug}`)),
    express('absolute-form, other host', get(`http://other.example/${slug}?x=1`)),
    express('no Host under HTTP/1.1', get(`/${slug}`, '')),
    express('empty Host', get(`/${slug}`, 'Host: \r\n')),
    express('OPTIONS', get(`/${slug}`, HOST, 'OPTIONS')),
    express('POST', `POST /${slug} HTTP/1.1\r\n${HOST}Content-Length: 0\r\n\r\n`),
    express('DELETE', get(`/${slug}`, HOST, 'DELETE')),
  ];
}

/** Header lines from lower-case names, as the bad-input suite's fetch sends them (a case's own headers win). */
const headerLines = (token: string | null, extra: Record<string, string> = {}) =>
  Object.entries({
    'content-type': 'application/json',
    ...(token === null ? {} : { authorization: `Bearer ${token}` }),
    ...extra,
  })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');

/** The bad-input corpus as raw requests: its creations, its raw-socket abuse and its hostile paths. */
function badInput(): Case[] {
  const marker = (i: number) => `fpbad${i}`;
  return [
    ...cases.map((c, i): Case => {
      const body = c.raw ? c.raw(marker(i)) : JSON.stringify(c.body!(marker(i)));
      const headers = headerLines(c.token === undefined ? TOKEN : c.token, {
        ...c.headers,
        'content-length': String(Buffer.byteLength(body)),
      });
      const target = c.name === 'token in query string' ? `/api/links?token=${TOKEN}` : '/api/links';
      return { name: `create: ${c.name}`, chunks: [`POST ${target} HTTP/1.1\r\n${HOST}${headers}\r\n${body}`] };
    }),
    ...rawCases.map((c, i): Case => ({ name: `raw: ${c.name}`, chunks: c.chunks(marker(1000 + i)), gapMs: c.gapMs })),
    ...routeCases.map((c): Case => ({
      name: `route: ${c.name}`,
      chunks: [`${c.method} ${c.path} HTTP/1.1\r\n${HOST}${c.token === false ? '' : headerLines(TOKEN)}\r\n`],
    })),
  ];
}

/** One wire answer, comparable across the two services: Date and generated request ids normalised. */
function comparable(x: Exchange, generated: Set<string>): unknown {
  const norm = (r: Exchange['responses'][number]) => ({
    statusLine: r.statusLine,
    headers: r.headers.map(([n, v]) => {
      if (n.toLowerCase() === 'date') return [n, '<date>'];
      if (n.toLowerCase() === 'x-request-id' && !v.startsWith('fp.req-')) {
        expect(v).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        generated.add(v);
        return [n, '<generated>'];
      }
      return [n, v];
    }),
    body: r.body,
  });
  return { responses: x.responses.map(norm), interim: x.interim.map(norm), closed: x.closed, rest: x.rest };
}

/** The metrics a request leaves behind and that do not depend on timing: request counts, redirects, cache lookups. */
async function countedMetrics(port: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const counted = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m) continue;
    const [, name, labels = '', value] = m;
    if (name === 'http_request_duration_seconds_count' || name!.startsWith('boltlink_')) {
      if (/^boltlink_(worker|sizing|db_pool|redis_connected|metrics_aggregation)/.test(name!)) continue;
      counted.set(`${name}${labels}`, Number(value));
    }
  }
  return counted;
}

const delta = (after: Map<string, number>, before: Map<string, number>) =>
  Object.fromEntries([...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)]).filter(([, v]) => v !== 0));

/**
 * Counts the answers the service gave before Express saw the request: Express's
 * app.handle gives every response it handles `locals`, at once, even when the
 * answer comes later. The service's own listener is wrapped, not replaced.
 */
function countFastAnswers(running: Running): { count: number } {
  const [listener] = running.server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
  const answered = { count: 0 };
  running.server.removeAllListeners('request');
  running.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    listener!(req, res);
    if (!('locals' in res)) answered.count++;
  });
  return answered;
}

async function startOne(name: string, overrides: Record<string, string | undefined>): Promise<Service> {
  const db = await createScratchDatabase(process.env.BOLTLINK_TEST_ADMIN_URL!, 'boltlink_fast');
  await migrate(db.url);
  for (const { slug, url, expires } of LINKS) {
    await sqlAt(db.url, `INSERT INTO links (slug, url, expires_at) VALUES ($1, $2, ${expires})`, [slug, url]);
  }
  const metricsPort = await freePort();
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(line));
      done();
    },
  });
  const config = loadConfig(
    testEnv({
      DATABASE_URL: db.url,
      METRICS_PORT: String(metricsPort),
      LOG_LEVEL: 'info',
      REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      // Entries outlive the run, so which request of a slug misses the caches does not depend on timing.
      LOCAL_CACHE_TTL_MS: '600000',
      NEGATIVE_CACHE_TTL_SECONDS: '3600',
      // Long enough to send requests while both services drain.
      SHUTDOWN_DRAIN_MS: '1500',
      ...overrides,
    }),
  );
  const running = await start(config, pino({ level: 'info' }, sink));
  const answeredFast = countFastAnswers(running);
  return { name, running, answeredFast, metricsPort, databaseUrl: db.url, logs, drop: () => db.drop() };
}

/** Sends every case to both services at once, a few cases at a time; returns the normalised answers of each. */
async function sendToBoth(corpus: readonly Case[], fast: Service, express: Service, generated: Set<string>[]) {
  const answers: { name: string; fast: unknown; express: unknown }[] = [];
  const queue = [...corpus];
  const worker = async () => {
    for (let c = queue.shift(); c; c = queue.shift()) {
      const o = { responses: c.responses, heads: c.heads, gapMs: c.gapMs, timeoutMs: REQUEST_TIMEOUT_MS * 4 };
      const [a, b] = await Promise.all([fast, express].map((s) => exchange(s.running.port, c!.chunks, o)));
      answers.push({ name: c.name, fast: comparable(a!, generated[0]!), express: comparable(b!, generated[1]!) });
    }
  };
  await Promise.all(Array.from({ length: 12 }, worker));
  return answers.sort((x, y) => x.name.localeCompare(y.name));
}

let fast: Service;
let express: Service;
const generated = [new Set<string>(), new Set<string>()];
const before: Map<string, number>[] = [];

beforeAll(async () => {
  [fast, express] = await Promise.all([
    startOne('fast', { FAST_REDIRECTS: undefined }),
    startOne('express', { FAST_REDIRECTS: 'false' }),
  ]);
  before.push(await countedMetrics(fast.metricsPort), await countedMetrics(express.metricsPort));
});
afterAll(async () => {
  await Promise.all([fast, express].map((s) => s?.running.shutdown('test')));
  await Promise.all([fast, express].map((s) => s?.drop()));
});

const slugs = [...LINKS.map((l) => l.slug), ...OTHER_SLUGS];
const corpus = [...slugs.flatMap(variants), ...badInput()];

describe('the fast redirect', () => {
  it('answers as Express does, byte for byte, from a cold cache and then a warm one', async () => {
    // Every case, to both services, twice; the slowloris cases of the corpus wait out REQUEST_TIMEOUT_MS.
    // One plain GET per slug first, one at a time: which request fills each cache is then the same in both.
    const cold = await sendToBoth(
      slugs.map((s) => variants(s)[0]!),
      fast,
      express,
      generated,
    );
    expect([fast.answeredFast.count, express.answeredFast.count]).toEqual([0, 0]);
    const passes = [
      cold,
      await sendToBoth(corpus, fast, express, generated),
      await sendToBoth(corpus, fast, express, generated),
    ];
    for (const pass of passes) {
      for (const a of pass) expect({ name: a.name, answer: a.fast }).toEqual({ name: a.name, answer: a.express });
    }
    // The corpus exercised the fast path: warm hits redirected (302) in every shape it takes.
    const redirected = passes[2]!.filter((a) => JSON.stringify(a.fast).includes(' 302 Found'));
    expect(redirected.length).toBeGreaterThan(50);
    // ... and the fast path gave exactly the answers it takes, for the live links of both warm passes.
    const live = new Set(LINKS.filter((l) => l.live).map((l) => l.slug as string));
    const takes = corpus.filter((c) => live.has(c.name.split(':')[0]!)).reduce((n, c) => n + (c.fast ?? 0), 0);
    expect(fast.answeredFast.count).toBe(2 * takes);
    expect(express.answeredFast.count).toBe(0);
  }, 120_000);

  it('sends a link that expired while cached on to Express (410), as Express would answer', async () => {
    const slug = 'fp-soon';
    const expiresAt = Date.now() + 1_500;
    for (const s of [fast, express]) {
      await sqlAt(
        s.databaseUrl,
        'INSERT INTO links (slug, url, expires_at) VALUES ($1, $2, to_timestamp($3 / 1000.0))',
        [slug, 'https://example.com/soon', expiresAt],
      );
    }
    // One GET fills the caches, then hits while live.
    const [get, head] = variants(slug);
    const live = [
      ...(await sendToBoth([get!], fast, express, generated)),
      ...(await sendToBoth([get!, head!], fast, express, generated)),
    ];
    expect(live.map((a) => (a.fast as { responses: { statusLine: string }[] }).responses[0]!.statusLine)).toEqual(
      Array(3).fill('HTTP/1.1 302 Found'),
    );
    await new Promise((r) => setTimeout(r, expiresAt + 100 - Date.now()));
    const expired = await sendToBoth(variants(slug), fast, express, generated);
    for (const a of [...live, ...expired])
      expect({ name: a.name, answer: a.fast }).toEqual({ name: a.name, answer: a.express });
    expect(JSON.stringify(expired[0])).toContain('410 Gone');
  });

  it('leaves the same request counts, redirects and cache lookups by tier and result in /metrics', async () => {
    const after = [await countedMetrics(fast.metricsPort), await countedMetrics(express.metricsPort)];
    const [a, b] = [delta(after[0]!, before[0]!), delta(after[1]!, before[1]!)];
    expect(a).toEqual(b);
    expect(a['http_request_duration_seconds_count{method="GET",route="/:slug",status="302"}']).toBeGreaterThan(100);
    expect(a['http_request_duration_seconds_count{method="HEAD",route="/:slug",status="302"}']).toBeGreaterThan(10);
    expect(a['boltlink_cache_lookups_total{tier="local",result="hit"}']).toBeGreaterThan(100);
  });

  it('answers with Connection: close while the worker drains, as Express does', async () => {
    const stopping = [fast, express].map((s) => s.running.shutdown('test'));
    const answers = await sendToBoth(
      ['fp-plain', 'fp-missing'].flatMap((s) => variants(s)),
      fast,
      express,
      generated,
    );
    for (const a of answers) expect({ name: a.name, answer: a.fast }).toEqual({ name: a.name, answer: a.express });
    expect(JSON.stringify(answers.find((a) => a.name === 'fp-plain: GET')!.fast)).toContain('"Connection","close"');
    await Promise.all(stopping);
  });

  it('wrote the same access log lines, each naming its answer, and stored the same clicks', async () => {
    const lines = (s: Service) =>
      s.logs
        .filter((l) => l.msg === 'request')
        .map((l) => `${l.method} ${l.route} ${l.status} ${String(l.reqId).startsWith('fp.req-') ? l.reqId : '-'}`)
        .sort();
    expect(lines(fast)).toEqual(lines(express));
    expect(lines(fast).filter((l) => l.includes(' /:slug 302 ')).length).toBeGreaterThan(100);
    [fast, express].forEach((s, i) => {
      const logged = s.logs.filter((l) => l.msg === 'request' && !String(l.reqId).startsWith('fp.req-'));
      expect(new Set(logged.map((l) => l.reqId))).toEqual(generated[i]);
    });
    const clicks = (s: Service) => sqlAt(s.databaseUrl, 'SELECT slug, clicks::int AS clicks FROM links ORDER BY slug');
    const [a, b] = [await clicks(fast), await clicks(express)];
    expect(a).toEqual(b);
    expect(a.find((r) => r.slug === 'fp-plain')!.clicks).toBeGreaterThan(50);
  });
});
