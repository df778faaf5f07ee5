import { Redis } from 'ioredis';
import { withClient } from '../test-support/databases';
import { encodeCachedLink, linkKey } from '../service/src/links/cache';
import { slugOfRank, SLUG_PREFIX, URL_OF_RANK_SQL, urlOfRank, type TrafficModel } from './traffic';

/** Rows per INSERT: one statement per batch keeps each transaction short on a live database. */
const INSERT_BATCH = 250_000;
const REDIS_BATCH = 10_000;

/**
 * The model's links in PostgreSQL, in bulk (INSERT … SELECT generate_series,
 * never through the API: a million creates would measure the create path and
 * its rate limit). Idempotent: links already there are kept, clicks and all.
 * Returns how many it inserted.
 */
export async function seedLinks(databaseUrl: string, model: TrafficModel): Promise<number> {
  return withClient(databaseUrl, async (c) => {
    const last = await c.query('SELECT 1 FROM links WHERE slug = $1', [slugOfRank(model.links)]);
    if (last.rowCount === 1) {
      const { rows } = await c.query<{ n: string }>('SELECT count(*) AS n FROM links WHERE slug LIKE $1', [
        `${SLUG_PREFIX}%`,
      ]);
      if (Number(rows[0]!.n) >= model.links) return 0;
    }
    let inserted = 0;
    for (let from = 1; from <= model.links; from += INSERT_BATCH) {
      const to = Math.min(model.links, from + INSERT_BATCH - 1);
      const r = await c.query(
        `INSERT INTO links (slug, url) SELECT '${SLUG_PREFIX}' || g, ${URL_OF_RANK_SQL} FROM generate_series($1::int, $2::int) AS g ON CONFLICT (slug) DO NOTHING`,
        [from, to],
      );
      inserted += r.rowCount ?? 0;
    }
    return inserted;
  });
}

/**
 * Every link of the model in Redis under `keyPrefix`, as the service caches
 * it (the steady state of a release that has served them all within
 * CACHE_TTL_SECONDS), in pipelines of REDIS_BATCH.
 */
export async function fillRedis(redisUrl: string, keyPrefix: string, model: TrafficModel, ttlSeconds: number) {
  const redis = new Redis(redisUrl, { keyPrefix, maxRetriesPerRequest: 1 });
  try {
    for (let from = 1; from <= model.links; from += REDIS_BATCH) {
      const pipeline = redis.pipeline();
      for (let rank = from; rank < Math.min(model.links + 1, from + REDIS_BATCH); rank++) {
        pipeline.set(
          linkKey(slugOfRank(rank)),
          encodeCachedLink({ url: urlOfRank(rank), expiresAtMs: null }),
          'EX',
          ttlSeconds,
        );
      }
      const results = await pipeline.exec();
      const failed = results?.find(([err]) => err);
      if (failed) throw failed[0]!;
    }
  } finally {
    redis.disconnect();
  }
}
