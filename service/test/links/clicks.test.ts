import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { loadConfig } from '../../src/config';
import { createDatabase, type Database } from '../../src/db/client';
import { ClickCounter } from '../../src/links/clicks';
import { createRedis } from '../../src/redis';
import type { Redis } from 'ioredis';
import { sql, testEnv, uniqueSlug } from '../../../test-support/service';

/** The click counter against the suite's PostgreSQL and Redis, without HTTP in between. */
describe('click batches', () => {
  const config = loadConfig(testEnv());
  let db: Database;
  let redis: Redis;
  let clicks: ClickCounter;
  beforeAll(() => {
    db = createDatabase(config);
    redis = createRedis(config);
    clicks = new ClickCounter(redis, db.prisma, pino({ level: 'silent' }), 'redis-under-test');
  });
  afterAll(async () => {
    await db.close();
    redis.disconnect();
  });

  const stored = async (slug: string) =>
    Number((await sql<{ clicks: string }>('SELECT clicks FROM links WHERE slug = $1', [slug]))[0]!.clicks);

  it('counts a batch once even when it is applied again (a retry whose first attempt committed)', async () => {
    const slug = uniqueSlug('cb');
    await sql('INSERT INTO links (slug, url) VALUES ($1, $2)', [slug, 'https://example.com/cb']);
    const id = randomUUID();
    // What a flush leaves in Redis when PostgreSQL committed but the client never heard back.
    const leaveInflight = async () => {
      await redis.hset('clicks:inflight', slug, 3);
      await redis.set('clicks:inflight:id', id);
    };
    await leaveInflight();
    await clicks.flush();
    expect(await stored(slug)).toBe(3);
    await leaveInflight();
    await clicks.flush();
    expect(await stored(slug)).toBe(3);
    expect(await sql('SELECT count(*)::int AS n FROM click_batches WHERE id = $1', [id])).toEqual([{ n: 1 }]);
  });

  it('gives new clicks a new batch and counts them', async () => {
    const slug = uniqueSlug('cb');
    await sql('INSERT INTO links (slug, url) VALUES ($1, $2)', [slug, 'https://example.com/cb']);
    for (let i = 0; i < 4; i++) clicks.record(slug);
    expect(await clicks.unflushed(slug)).toBe(4);
    await clicks.flush();
    for (let i = 0; i < 2; i++) clicks.record(slug);
    await clicks.flush();
    expect(await stored(slug)).toBe(6);
    expect(await clicks.unflushed(slug)).toBe(0);
  });

  it('on stop waits for a flush another worker holds the lock for, then brings its own clicks to PostgreSQL', async () => {
    const slug = uniqueSlug('cb');
    await sql('INSERT INTO links (slug, url) VALUES ($1, $2)', [slug, 'https://example.com/cb']);
    // Another worker stopping at the same moment: it holds the lock, its batch taken before ours arrived.
    await redis.set('clicks:lock', 'another-worker', 'PX', 30_000);
    const stopping = new ClickCounter(redis, db.prisma, pino({ level: 'silent' }), 'redis-under-test');
    for (let i = 0; i < 2; i++) stopping.record(slug);
    const stopped = stopping.stop();
    await new Promise((r) => setTimeout(r, 200));
    expect(await stored(slug)).toBe(0);
    await redis.del('clicks:lock');
    await stopped;
    expect(await stored(slug)).toBe(2);
  });

  it("on stop applies a batch a failed flush left, then this worker's own clicks", async () => {
    const [left, own] = [uniqueSlug('cb'), uniqueSlug('cb')];
    for (const slug of [left, own])
      await sql('INSERT INTO links (slug, url) VALUES ($1, $2)', [slug, 'https://example.com/cb']);
    await redis.hset('clicks:inflight', left, 5);
    await redis.set('clicks:inflight:id', randomUUID());
    const stopping = new ClickCounter(redis, db.prisma, pino({ level: 'silent' }), 'redis-under-test');
    for (let i = 0; i < 3; i++) stopping.record(own);
    await stopping.stop();
    expect([await stored(left), await stored(own)]).toEqual([5, 3]);
  });

  it('on stop gives up on a lock that is never released (a dead flusher) and leaves the clicks in Redis', async () => {
    const slug = uniqueSlug('cb');
    await sql('INSERT INTO links (slug, url) VALUES ($1, $2)', [slug, 'https://example.com/cb']);
    await redis.set('clicks:lock', 'a-dead-worker', 'PX', 30_000);
    try {
      const stopping = new ClickCounter(redis, db.prisma, pino({ level: 'silent' }), 'redis-under-test');
      stopping.record(slug);
      await stopping.stop();
      expect(await stored(slug)).toBe(0);
      expect(await clicks.unflushed(slug)).toBe(1);
    } finally {
      await redis.del('clicks:lock');
    }
  });
});
