import { LRUCache } from 'lru-cache';
import type { CachedLink } from './cache';

export interface LocalCacheOptions {
  /** Most entries held; the least recently used goes first. */
  readonly maxEntries: number;
  /** Most memory the entries may take, MiB (estimated per entry: see ENTRY_OVERHEAD_BYTES). */
  readonly maxMiB: number;
  /** How long an entry is served without asking Redis: the bound on staleness when an invalidation is lost. */
  readonly ttlMs: number;
  /** The same for "no such link", at most ttlMs. */
  readonly missingTtlMs: number;
}

/**
 * What an entry costs beyond its slug and URL characters (V8 one-byte strings,
 * the value object, lru-cache's bookkeeping), bytes. Measured by make bench
 * ("local cache memory"): 318 bytes per entry for 90-character URLs.
 */
export const ENTRY_OVERHEAD_BYTES = 224;
const MiB = 1024 * 1024;

/**
 * The worker's own cache in front of Redis (lru-cache: bounded by entries and
 * by memory, so long URLs cannot grow it past its share of the heap; each
 * entry dropped `ttlMs` after it was filled, never refreshed by a read).
 * A hit answers a redirect without awaiting anything. Kept coherent by the
 * invalidations each worker receives over Redis pub/sub (./invalidation.ts);
 * when one is lost, the TTL is the bound.
 */
export class LocalLinkCache {
  private readonly lru: LRUCache<string, CachedLink>;
  private readonly missingTtlMs: number;
  private evictions = 0;

  constructor(o: LocalCacheOptions) {
    this.lru = new LRUCache<string, CachedLink>({
      max: o.maxEntries,
      maxSize: o.maxMiB * MiB,
      sizeCalculation: (link, slug) => slug.length + (link === 'missing' ? 0 : link.url.length) + ENTRY_OVERHEAD_BYTES,
      ttl: o.ttlMs,
      updateAgeOnGet: false,
    });
    this.missingTtlMs = Math.min(o.missingTtlMs, o.ttlMs);
  }

  get(slug: string): CachedLink | undefined {
    return this.lru.get(slug);
  }

  /**
   * Counts evictions: a fill that started reading Redis or PostgreSQL before
   * an invalidation arrived must not store what it read (the delete may have
   * committed in between), so `fill` takes the count from before the read.
   */
  get version(): number {
    return this.evictions;
  }

  /** Stores what a read that began at `version` found, unless an invalidation came in meanwhile. */
  fill(slug: string, link: CachedLink, version: number): void {
    if (version !== this.evictions) return;
    this.lru.set(slug, link, link === 'missing' ? { ttl: this.missingTtlMs } : undefined);
  }

  /** An invalidation for `slug`. */
  evict(slug: string): void {
    this.lru.delete(slug);
    this.evictions++;
  }

  /** Every entry: messages may have been lost. */
  clear(): void {
    this.lru.clear();
    this.evictions++;
  }

  get size(): number {
    return this.lru.size;
  }
}
