import type { IncomingMessage, ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import pino from 'pino';
import { loadConfig } from '../service/src/config';
import { migrate } from '../service/src/db/migrate';
import { start, type Running } from '../service/src/server';
import { createScratchDatabase } from './databases';
import { freePort, sqlAt, testEnv } from './service';
import { exchange, type Exchange } from './wire';

/**
 * The harness of the fast redirect's differential test
 * (service/test/links/fast-redirect.test.ts): the same raw requests to two
 * services in this process, one with FAST_REDIRECTS at its default (on) and
 * one with it off, each on a database and a Redis prefix of its own seeded
 * alike; their answers compared byte for byte but for Date and generated
 * request ids, then the /metrics deltas, the access log lines and the clicks
 * stored in PostgreSQL.
 */

/** A raw request (or several, pipelined or in chunks) and how to read its answers. */
export interface WireCase {
  readonly name: string;
  readonly chunks: readonly string[];
  readonly responses?: number;
  readonly heads?: readonly boolean[];
  readonly gapMs?: number;
}

export interface DiffService {
  readonly name: string;
  readonly running: Running;
  /** Answers given before Express saw the request. */
  readonly answeredFast: { count: number };
  readonly metricsPort: number;
  readonly databaseUrl: string;
  readonly redisPrefix: string;
  readonly logs: Record<string, unknown>[];
  /** Request ids the service generated, as its answers carried them. */
  readonly generated: Set<string>;
  /** The counted metrics when it started. */
  readonly before: Map<string, number>;
  drop(): Promise<unknown>;
}

export interface Pair {
  readonly fast: DiffService;
  readonly express: DiffService;
  /** Shuts both down: their clicks flushed, their databases kept to read. */
  shutdown(): Promise<void>;
  /** Shuts both down if they still run, then drops their databases. */
  drop(): Promise<void>;
}

/** The links seeded alike in both databases: `expires` is SQL. */
export interface SeedLink {
  readonly slug: string;
  readonly url: string;
  readonly expires: string;
}

/**
 * Counts the answers the service gave before Express saw the request: Express's
 * app.handle gives every response it handles `locals`. Read when the response
 * closes, because the fast redirect may answer (or hand over) after a lookup.
 * The service's own listener is wrapped, not replaced.
 */
function countFastAnswers(running: Running): { count: number } {
  const [listener] = running.server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
  const answered = { count: 0 };
  running.server.removeAllListeners('request');
  running.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    res.once('close', () => {
      if (!('locals' in res)) answered.count++;
    });
    listener!(req, res);
  });
  return answered;
}

/** The metrics a request leaves behind and that do not depend on timing: request counts, redirects, cache lookups. */
export async function countedMetrics(port: number): Promise<Map<string, number>> {
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

/** What changed between two readings of countedMetrics. */
export const delta = (after: Map<string, number>, before: Map<string, number>) =>
  Object.fromEntries([...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)]).filter(([, v]) => v !== 0));

async function startOne(
  name: string,
  links: readonly SeedLink[],
  overrides: Record<string, string | undefined>,
  adminUrl: string,
): Promise<DiffService> {
  const db = await createScratchDatabase(adminUrl, 'boltlink_fast');
  await migrate(db.url);
  for (const { slug, url, expires } of links) {
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
  const env = testEnv({
    DATABASE_URL: db.url,
    METRICS_PORT: String(metricsPort),
    LOG_LEVEL: 'info',
    // Entries outlive the test, so which request of a slug misses the caches does not depend on timing.
    LOCAL_CACHE_TTL_MS: '600000',
    NEGATIVE_CACHE_TTL_SECONDS: '3600',
    ...overrides,
  });
  const running = await start(loadConfig(env), pino({ level: 'info' }, sink));
  const answeredFast = countFastAnswers(running);
  return {
    name,
    running,
    answeredFast,
    metricsPort,
    databaseUrl: db.url,
    redisPrefix: env.REDIS_KEY_PREFIX!,
    logs,
    generated: new Set(),
    before: await countedMetrics(metricsPort),
    drop: () => db.drop(),
  };
}

/**
 * The two services, fast redirect on and off, on databases seeded with
 * `links` on the server at `adminUrl` (the suite's, unless a test brings its
 * own PostgreSQL); `overrides` apply to both.
 */
export async function startPair(
  links: readonly SeedLink[],
  overrides: Record<string, string | undefined> = {},
  adminUrl = process.env.BOLTLINK_TEST_ADMIN_URL!,
): Promise<Pair> {
  const [fast, express] = await Promise.all([
    startOne('fast', links, { ...overrides, FAST_REDIRECTS: undefined }, adminUrl),
    startOne('express', links, { ...overrides, FAST_REDIRECTS: 'false' }, adminUrl),
  ]);
  // Running.shutdown returns the same promise every time it is called.
  const shutdown = () => Promise.all([fast, express].map((s) => s.running.shutdown('test'))).then(() => undefined);
  return {
    fast,
    express,
    shutdown,
    async drop() {
      await shutdown();
      await Promise.all([fast, express].map((s) => s.drop()));
    },
  };
}

/** One wire answer, comparable across the two services: Date and generated request ids normalised. */
function comparable(x: Exchange, generated: Set<string>): unknown {
  const norm = (r: Exchange['responses'][number]) => ({
    statusLine: r.statusLine,
    headers: r.headers.map(([n, v]) => {
      if (n.toLowerCase() === 'date') return [n, '<date>'];
      if (n.toLowerCase() === 'x-request-id' && !v.startsWith('fp.req-')) {
        if (!/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(v)) {
          throw new Error(`a generated request id that is not a UUID v4: ${v}`);
        }
        generated.add(v);
        return [n, '<generated>'];
      }
      return [n, v];
    }),
    body: r.body,
  });
  return { responses: x.responses.map(norm), interim: x.interim.map(norm), closed: x.closed, rest: x.rest };
}

export interface Answer {
  readonly name: string;
  readonly fast: unknown;
  readonly express: unknown;
}

/** Sends every case to both services at once, `parallel` cases at a time; the normalised answers, by case name. */
export async function sendToBoth(pair: Pair, corpus: readonly WireCase[], timeoutMs: number, parallel = 12) {
  const answers: Answer[] = [];
  const queue = [...corpus];
  const worker = async () => {
    for (let c = queue.shift(); c; c = queue.shift()) {
      const o = { responses: c.responses, heads: c.heads, gapMs: c.gapMs, timeoutMs };
      const [a, b] = await Promise.all([pair.fast, pair.express].map((s) => exchange(s.running.port, c!.chunks, o)));
      answers.push({
        name: c.name,
        fast: comparable(a!, pair.fast.generated),
        express: comparable(b!, pair.express.generated),
      });
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return answers.sort((x, y) => x.name.localeCompare(y.name));
}

/** The status line of each answer's first response. */
export const statusLines = (answers: readonly Answer[], side: 'fast' | 'express' = 'fast') =>
  answers.map((a) => (a[side] as { responses: { statusLine: string }[] }).responses[0]?.statusLine);

/** The access log as comparable lines: method, route, status, and the request id when the client supplied it. */
export const accessLog = (s: DiffService) =>
  s.logs
    .filter((l) => l.msg === 'request')
    .map((l) => `${l.method} ${l.route} ${l.status} ${String(l.reqId).startsWith('fp.req-') ? l.reqId : '-'}`)
    .sort();

/** Every link's stored clicks. */
export const storedClicks = (s: DiffService) =>
  sqlAt<{ slug: string; clicks: number }>(s.databaseUrl, 'SELECT slug, clicks::int AS clicks FROM links ORDER BY slug');
