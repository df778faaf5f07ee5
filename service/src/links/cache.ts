import type { Redis } from 'ioredis';

/** What a cache hit says about a slug: a live or expired link, or "no such link". */
export type CachedLink = { readonly url: string; readonly expiresAtMs: number | null } | 'missing';

const MISSING = '-';

export const linkKey = (slug: string) => `link:${slug}`;

/** An entry's value: `<expiresAtMs or empty>|<url>` (make bench and the load test fill Redis in bulk with it). */
export const encodeCachedLink = (link: Exclude<CachedLink, 'missing'>) => `${link.expiresAtMs ?? ''}|${link.url}`;

/**
 * Cache-aside entries in Redis, shared by every worker and pod so that a
 * delete is seen everywhere at once. Format `<expiresAtMs or empty>|<url>`:
 * cheaper to parse on the hot path than JSON; `-` is "no such link" (negative
 * caching: a burst of requests for an unknown slug costs one query).
 */
export class LinkCache {
  constructor(
    private readonly redis: Redis,
    private readonly ttlSeconds: number,
    private readonly missingTtlSeconds: number,
  ) {}

  /** Each slug's entry, `undefined` for a cache miss, in one MGET. Rejects when Redis is unreachable. */
  async getMany(slugs: readonly string[]): Promise<(CachedLink | undefined)[]> {
    const raws = await this.redis.mget(slugs.map(linkKey));
    return raws.map(decode);
  }

  /** Stores what PostgreSQL said of each slug (a link, or "no such link"), in one round trip. */
  async setMany(entries: readonly (readonly [string, CachedLink])[]): Promise<void> {
    const pipeline = this.redis.pipeline();
    for (const [slug, link] of entries) {
      if (link === 'missing') pipeline.set(linkKey(slug), MISSING, 'EX', this.missingTtlSeconds);
      else pipeline.set(linkKey(slug), encodeCachedLink(link), 'EX', this.ttlSeconds);
    }
    await pipeline.exec();
  }

  async set(slug: string, link: Exclude<CachedLink, 'missing'>): Promise<void> {
    await this.redis.set(linkKey(slug), encodeCachedLink(link), 'EX', this.ttlSeconds);
  }

  async invalidate(slug: string): Promise<void> {
    await this.redis.del(linkKey(slug));
  }
}

function decode(raw: string | null): CachedLink | undefined {
  if (raw === null) return undefined;
  if (raw === MISSING) return 'missing';
  const bar = raw.indexOf('|');
  return { url: raw.slice(bar + 1), expiresAtMs: bar === 0 ? null : Number(raw.slice(0, bar)) };
}
