import encodeUrl from 'encodeurl';
import { LRUCache } from 'lru-cache';
import { BYTES_PER_MIB } from '../../../common/contract';
import type { CachedLink } from './cache';

/**
 * An entry: a link with its redirect's `Location` (what Express's
 * `res.location(url)` sets: the URL through encodeurl), encoded once when the
 * entry is filled instead of on every hit; or "no such link".
 */
export type LocalLink =
  { readonly url: string; readonly expiresAtMs: number | null; readonly location: string } | 'missing';

export interface LocalCacheOptions {
  /** Most entries held; the least recently used goes first. */
  readonly maxEntries: number;
  /** Most memory the entries may take, MiB (estimated per entry: see ENTRY_OVERHEAD_BYTES). */
  readonly maxMiB: number;
  /** How long an entry is served without asking Redis: the bound on staleness when an invalidation is lost. */
  readonly ttlMs: number;
  /** The same for "no such link", at most ttlMs. */
  readonly missingTtlMs: number;
  /**
   * The clock the TTLs run on, ms. make plan's simulation drives the cache
   * with a virtual one (loadtest/cache-sim.ts), so what it predicts is this
   * cache's behaviour, not a model of it.
   * @default performance (lru-cache's own)
   */
  readonly clock?: { now(): number };
}

/**
 * What an entry costs beyond its slug and URL characters (V8 one-byte strings,
 * the value object, lru-cache's bookkeeping), bytes. Measured by make bench
 * ("local cache memory"): 318 bytes per entry for 90-character URLs.
 */
export const ENTRY_OVERHEAD_BYTES = 224;

/**
 * The worker's own cache in front of Redis (lru-cache: bounded by entries and
 * by memory, so long URLs cannot grow it past its share of the heap; each
 * entry dropped `ttlMs` after it was filled, never refreshed by a read).
 * A hit answers a redirect without awaiting anything. Kept coherent by the
 * invalidations each worker receives over Redis pub/sub (./invalidation.ts);
 * when one is lost, the TTL is the bound.
 */
export class LocalLinkCache {
  private readonly lru: LRUCache<string, LocalLink>;
  private readonly missingTtlMs: number;
  private evictions = 0;

  constructor(o: LocalCacheOptions) {
    this.lru = new LRUCache<string, LocalLink>({
      max: o.maxEntries,
      maxSize: o.maxMiB * BYTES_PER_MIB,
      sizeCalculation: (link, slug) => slug.length + characters(link) + ENTRY_OVERHEAD_BYTES,
      ttl: o.ttlMs,
      updateAgeOnGet: false,
      // lru-cache reads its clock once per millisecond (a timer resets it): a virtual clock must be read every time.
      ...(o.clock ? { perf: o.clock, ttlResolution: 0 } : {}),
    });
    this.missingTtlMs = Math.min(o.missingTtlMs, o.ttlMs);
  }

  get(slug: string): LocalLink | undefined {
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

  /**
   * Stores what a read that began at `version` found, unless an invalidation
   * came in meanwhile; returns the entry, stored or not.
   */
  fill(slug: string, link: CachedLink, version: number): LocalLink {
    // A literal, not a spread: a spread object took twice the heap (make bench's cache memory: 48 MiB per 100k, not 28).
    const entry =
      link === 'missing' ? link : { url: link.url, expiresAtMs: link.expiresAtMs, location: locationOf(link.url) };
    if (version === this.evictions)
      this.lru.set(slug, entry, entry === 'missing' ? { ttl: this.missingTtlMs } : undefined);
    return entry;
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

/** The URL encoded; the URL itself (one string, not two) when encoding changed nothing. */
function locationOf(url: string): string {
  const encoded = encodeUrl(url);
  return encoded === url ? url : encoded;
}

/** The entry's characters: the URL, and the Location when encoding changed it (else it is the same string). */
const characters = (link: LocalLink) =>
  link === 'missing' ? 0 : link.url.length + (link.location === link.url ? 0 : link.location.length);
