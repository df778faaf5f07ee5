import { Writable } from 'node:stream';
import pino from 'pino';
import { loadConfig } from '../../src/config';
import { start, type Running } from '../../src/server';
import { freePort, sql, startPrivateRedis, testEnv, uniqueSlug } from '../../../test-support/service';

/**
 * Clicks while Redis cannot be reached: they go straight to PostgreSQL, and
 * the log says so once, naming REDIS_URL, instead of reporting a failed flush
 * every second and a failed final flush at shutdown (which read as lost clicks).
 */
interface Logged {
  readonly running: Running;
  readonly base: string;
  readonly logs: { level: number; msg: string; [k: string]: unknown }[];
}

async function startLogged(env: Record<string, string>): Promise<Logged> {
  const logs: Logged['logs'] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(line));
      done();
    },
  });
  const running = await start(loadConfig(testEnv({ LOG_LEVEL: 'info', ...env })), pino({ level: 'info' }, sink));
  return { running, base: `http://127.0.0.1:${running.port}`, logs };
}

async function redirect(base: string, slug: string, times: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    const res = await fetch(`${base}/${slug}`, { redirect: 'manual' });
    expect(res.status).toBe(302);
  }
}

const stored = async (slug: string) =>
  Number((await sql<{ clicks: string }>('SELECT clicks FROM links WHERE slug = $1', [slug]))[0]!.clicks);
const errors = (l: Logged) => l.logs.filter((e) => e.level >= 50).map((e) => e.msg);
const named = (l: Logged, address: string) =>
  l.logs.filter((e) => e.msg.startsWith(`Redis at REDIS_URL (${address}) is unreachable: clicks are written`));

describe('clicks while Redis cannot be reached', () => {
  it('from the start: every click reaches PostgreSQL, said once with REDIS_URL named, and no error', async () => {
    const slug = uniqueSlug('rd');
    await sql('INSERT INTO links (slug, url) VALUES ($1, $2)', [slug, 'https://example.com/rd']);
    const port = await freePort();
    const svc = await startLogged({ REDIS_URL: `redis://127.0.0.1:${port}`, CLICK_FLUSH_INTERVAL_MS: '300' });
    await redirect(svc.base, slug, 30);
    // Several flush intervals pass with Redis still gone: one line, not one per flush.
    await new Promise((r) => setTimeout(r, 1_200));
    await redirect(svc.base, slug, 20);
    await svc.running.shutdown('SIGTERM');
    expect(await stored(slug)).toBe(50);
    expect(errors(svc)).toEqual([]);
    expect(named(svc, `127.0.0.1:${port}`)).toHaveLength(1);
    expect(svc.logs.filter((e) => e.msg.startsWith('click flush failed'))).toEqual([]);
    const last = svc.logs.find((e) => e.msg.startsWith('clicks written to PostgreSQL directly'));
    expect(last).toMatchObject({ level: 30, clicksPushedToRedis: 0, sharedBatch: 'unreachable' });
    expect(last!.clicksToPostgresDirectly).toBeGreaterThan(0);
  });

  it('lost mid-run: the clicks before went through Redis, those after straight to PostgreSQL, none lost', async () => {
    const slug = uniqueSlug('rd');
    await sql('INSERT INTO links (slug, url) VALUES ($1, $2)', [slug, 'https://example.com/rd']);
    const redis = await startPrivateRedis();
    const svc = await startLogged({ REDIS_URL: redis.url, CLICK_FLUSH_INTERVAL_MS: '300' });
    try {
      await redirect(svc.base, slug, 30);
      // Flushed through Redis before it goes: what a SIGKILLed Redis holds unflushed is lost with it.
      await new Promise((r) => setTimeout(r, 800));
      expect(await stored(slug)).toBe(30);
      await redis.stop('SIGKILL');
      await redirect(svc.base, slug, 25);
      await new Promise((r) => setTimeout(r, 1_000));
      await svc.running.shutdown('SIGTERM');
      expect(await stored(slug)).toBe(55);
      expect(errors(svc)).toEqual([]);
      expect(named(svc, `127.0.0.1:${redis.port}`)).toHaveLength(1);
      expect(svc.logs.filter((e) => e.msg.startsWith('click flush failed'))).toEqual([]);
    } finally {
      await svc.running.shutdown('test');
      await redis.stop();
    }
  });
});
