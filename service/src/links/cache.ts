import type { Redis } from 'ioredis';

/** What a cache hit says about a slug: a live or expired link, or "no such link". */
export type CachedLink = { readonly url: string; readonly expiresAtMs: number | null } | 'missing';

const MISSING = '-';

export const linkKey = (slug: string) => `link:${slug}`;

/**
 * Cache-aside entries in Redis, shared by every worker and pod so that a
 * delete is seen everywhere at once. Format `<expiresAtMs or empty>|<url>`:
 * cheaper to parse on the hot path than JSON.
 */
export class LinkCache {
  constructor(
    private readonly redis: Redis,
    private readonly ttlSeconds: number,
    private readonly missingTtlSeconds: number,
  ) {}

  /** `undefined` on a cache miss. Rejects when Redis is unreachable. */
  async get(slug: string): Promise<CachedLink | undefined> {
    const raw = await this.redis.get(linkKey(slug));
    if (raw === null) return undefined;
    if (raw === MISSING) return 'missing';
    const bar = raw.indexOf('|');
    return { url: raw.slice(bar + 1), expiresAtMs: bar === 0 ? null : Number(raw.slice(0, bar)) };
  }

  async set(slug: string, link: Exclude<CachedLink, 'missing'>): Promise<void> {
    await this.redis.set(linkKey(slug), `${link.expiresAtMs ?? ''}|${link.url}`, 'EX', this.ttlSeconds);
  }

  /** Negative caching: a burst of requests for an unknown slug costs one query. */
  async setMissing(slug: string): Promise<void> {
    await this.redis.set(linkKey(slug), MISSING, 'EX', this.missingTtlSeconds);
  }

  async invalidate(slug: string): Promise<void> {
    await this.redis.del(linkKey(slug));
  }
}
