import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { LinkCache } from '../../service/src/links/cache';
import { sql } from '../../test-support/service';
import { fillRedis, seedLinks } from '../seed';
import { slugOfRank, SLUG_PREFIX, urlOfRank } from '../traffic';

describe('seeding the traffic model in bulk', () => {
  const model = { links: 1_500, zipfS: 1 };

  it('inserts every link once, with the URL the model names, and finds them the second time', async () => {
    await sql(`DELETE FROM links WHERE slug ~ '^${SLUG_PREFIX}[0-9]+$'`);
    expect(await seedLinks(process.env.DATABASE_URL!, model)).toBe(model.links);
    const rows = await sql<{ slug: string; url: string }>('SELECT slug, url FROM links WHERE slug = ANY($1)', [
      [1, 777, 1_500].map(slugOfRank),
    ]);
    expect(rows.sort((a, b) => a.url.localeCompare(b.url))).toEqual(
      [1, 1_500, 777]
        .map((r) => ({ slug: slugOfRank(r), url: urlOfRank(r) }))
        .sort((a, b) => a.url.localeCompare(b.url)),
    );
    expect(await seedLinks(process.env.DATABASE_URL!, model)).toBe(0);
  });

  it('fills Redis with entries the service reads as its own', async () => {
    const prefix = `seedtest:${randomBytes(4).toString('hex')}:`;
    await fillRedis(process.env.REDIS_URL!, prefix, model, 60);
    const redis = new Redis(process.env.REDIS_URL!, { keyPrefix: prefix });
    try {
      const cache = new LinkCache(redis, 60, 5);
      expect(await cache.getMany([slugOfRank(1), slugOfRank(1_500), slugOfRank(1_501)])).toEqual([
        { url: urlOfRank(1), expiresAtMs: null },
        { url: urlOfRank(1_500), expiresAtMs: null },
        undefined,
      ]);
      expect(await redis.ttl(`link:${slugOfRank(1)}`)).toBeGreaterThan(50);
    } finally {
      const plain = new Redis(process.env.REDIS_URL!);
      const keys = await plain.keys(`${prefix}*`);
      if (keys.length > 0) await plain.del(...keys);
      plain.disconnect();
      redis.disconnect();
    }
  });
});
