import type { IncomingMessage } from 'node:http';
import DataLoader from 'dataloader';
import type { Pool } from 'pg';
import { hostMissing } from '../http';
import type { Metrics } from '../metrics/registry';
import type { Lifecycle } from '../shutdown';
import type { CachedLink, LinkCache } from './cache';
import type { ClickCounter } from './clicks';
import type { LocalLink, LocalLinkCache } from './local-cache';
import { isLinkSlug } from './validation';

/** A redirect's outcome; `location` is the Location header's value. */
export type Resolution = { kind: 'found'; location: string } | { kind: 'missing' } | { kind: 'expired' };

/**
 * Links by slug, as one named prepared statement on the worker's pool: parsed
 * and planned once per connection. Prisma's findUnique cost about 350 µs of the
 * worker's CPU per read (make bench), most of it building and compiling the query.
 */
const FIND_LINKS = {
  name: 'boltlink_find_links',
  text: 'SELECT slug, url, (extract(epoch FROM expires_at) * 1000)::float8 AS expires_at_ms FROM links WHERE slug = ANY($1::text[])',
} as const;
/** Slugs in one Redis MGET and one PostgreSQL query at most. */
const MAX_BATCH = 128;

type RedirectMetrics = Pick<Metrics, 'redirects' | 'cacheLookups'>;

/** What the fast listener found before it handed a request to Express: the outcome, or PostgreSQL's error. */
export type HandedOver = { readonly resolution: Resolution } | { readonly error: unknown };

/** A lookup of one slug past the worker cache, shared by the requests that miss while it runs. */
interface InFlight {
  readonly link: Promise<LocalLink>;
  /** The worker cache's version when it began: an invalidation since then means it may read the old link. */
  readonly version: number;
}

/**
 * The redirect pipeline, the one place that decides whether a request is a
 * redirect and how it is answered, tier by tier: this worker's cache
 * (synchronous), then one lookup in flight per slug (Redis, then PostgreSQL,
 * both filling the tiers above them). The fast listener (./fast-redirect.ts)
 * and the Express route (./routes.ts) both call it, so a request is counted,
 * clicked and answered alike whichever of them takes it. Redis failures
 * degrade to PostgreSQL reads rather than errors.
 */
export class Redirects {
  /** Counter children bound once: a hit must not hash label sets. */
  private readonly lookups;
  private readonly inFlight = new Map<string, InFlight>();
  private readonly handedOver = new WeakMap<IncomingMessage, HandedOver>();
  /**
   * The lookups begun in one turn of the event loop, as one batch: a read of
   * the long tail costs a round trip per batch rather than per slug, and one
   * MGET instead of a GET each (ioredis's auto-pipelining sends them together
   * but parses each as a command of its own). setImmediate, not DataLoader's
   * default (the microtask queue), so the batch takes every socket read in
   * this turn, not one request's.
   */
  private readonly batches = new DataLoader<string, CachedLink>((slugs) => this.readBatch(slugs), {
    cache: false,
    maxBatchSize: MAX_BATCH,
    batchScheduleFn: (dispatch) => setImmediate(dispatch),
  });

  constructor(
    private readonly local: LocalLinkCache,
    private readonly cache: LinkCache,
    private readonly pool: Pool,
    private readonly clicks: ClickCounter,
    private readonly lifecycle: Pick<Lifecycle, 'phase'>,
    private readonly metrics: RedirectMetrics,
  ) {
    const c = metrics.cacheLookups;
    this.lookups = {
      localHit: c.labels('local', 'hit'),
      localMiss: c.labels('local', 'miss'),
      localJoined: c.labels('local', 'joined'),
      redisHit: c.labels('redis', 'hit'),
      redisMiss: c.labels('redis', 'miss'),
      redisError: c.labels('redis', 'error'),
      databaseHit: c.labels('database', 'hit'),
      databaseMiss: c.labels('database', 'miss'),
    };
  }

  /**
   * Whether a request for `/<slug>` is a redirect this worker answers now: a
   * GET or HEAD, a slug that may name a link, a worker that serves, and the
   * Host HTTP/1.1 requires. Anything else is some other route's, or an error's.
   */
  accepts(req: IncomingMessage, slug: string): boolean {
    const method = req.method;
    return (
      (method === 'GET' || method === 'HEAD') &&
      isLinkSlug(slug) &&
      this.lifecycle.phase !== 'starting' &&
      !hostMissing(req)
    );
  }

  /**
   * The outcome for `slug`, counted once: at once from this worker's cache,
   * else a promise. It rejects only when PostgreSQL cannot be read. A redirect
   * records its click and counts itself.
   */
  resolve(slug: string): Resolution | Promise<Resolution> {
    const link = this.local.get(slug);
    if (link !== undefined) {
      this.lookups.localHit.inc();
      return this.answer(slug, link);
    }
    this.lookups.localMiss.inc();
    return this.lookUp(slug).then((l) => this.answer(slug, l));
  }

  /**
   * The fast listener resolved `req` but leaves the answer to Express (no such
   * link, expired, PostgreSQL failed): Express's route answers with this
   * outcome instead of resolving, and counting, a second time.
   */
  handOver(req: IncomingMessage, outcome: HandedOver): void {
    this.handedOver.set(req, outcome);
  }

  /** What the fast listener handed over with `req`, if anything. */
  takeHandedOver(req: IncomingMessage): HandedOver | undefined {
    return this.handedOver.get(req);
  }

  /** The lookup in flight for `slug` if one began since the last invalidation, else a new one. */
  private lookUp(slug: string): Promise<LocalLink> {
    const version = this.local.version;
    const running = this.inFlight.get(slug);
    if (running?.version === version) {
      this.lookups.localJoined.inc();
      return running.link;
    }
    const link = this.read(slug, version);
    this.inFlight.set(slug, { link, version });
    const done = () => {
      if (this.inFlight.get(slug)?.link === link) this.inFlight.delete(slug);
    };
    link.then(done, done);
    return link;
  }

  /** Redis, then PostgreSQL, in this turn's batch; fills the worker cache unless an invalidation came in meanwhile. */
  private async read(slug: string, version: number): Promise<LocalLink> {
    return this.local.fill(slug, await this.batches.load(slug), version);
  }

  /**
   * One batch: Redis for every slug, PostgreSQL for those Redis does not hold
   * (all of them when Redis fails), and Redis filled with what PostgreSQL said
   * (without waiting for it). A slug PostgreSQL could not be asked for gets
   * the error.
   */
  private async readBatch(slugs: readonly string[]): Promise<(CachedLink | Error)[]> {
    const cached = await this.cache.getMany(slugs).catch(() => undefined);
    const { lookups } = this;
    if (!cached) slugs.forEach(() => lookups.redisError.inc());
    else cached.forEach((c) => (c === undefined ? lookups.redisMiss : lookups.redisHit).inc());
    const wanted = cached ? slugs.filter((_, i) => cached[i] === undefined) : [...slugs];
    if (wanted.length === 0) return cached as CachedLink[];
    let loaded: Map<string, CachedLink>;
    try {
      loaded = await this.load(wanted);
    } catch (err) {
      return slugs.map((_, i) => cached?.[i] ?? asError(err));
    }
    return slugs.map((slug, i) => cached?.[i] ?? loaded.get(slug)!);
  }

  /** PostgreSQL for `slugs`: each one's link or "no such link"; Redis filled with them. */
  private async load(slugs: string[]): Promise<Map<string, CachedLink>> {
    const { rows } = await this.pool.query<{ slug: string; url: string; expires_at_ms: number | null }>({
      ...FIND_LINKS,
      values: [slugs],
    });
    const found = new Map<string, CachedLink>();
    for (const row of rows) found.set(row.slug, { url: row.url, expiresAtMs: row.expires_at_ms });
    for (const slug of slugs) {
      if (found.has(slug)) this.lookups.databaseHit.inc();
      else {
        this.lookups.databaseMiss.inc();
        found.set(slug, 'missing');
      }
    }
    this.cache.setMany([...found]).catch(() => undefined);
    return found;
  }

  /** A redirect's click, counter and Location; or why there is none. The link's own expiry is checked every time. */
  private answer(slug: string, link: LocalLink): Resolution {
    if (link === 'missing') return MISSING;
    if (link.expiresAtMs !== null && link.expiresAtMs <= Date.now()) return EXPIRED;
    this.clicks.record(slug);
    this.metrics.redirects.inc();
    return { kind: 'found', location: link.location };
  }
}

/**
 * DataLoader rejects a load only for an `Error` of this realm. Node's own
 * errors (a refused connection) come from another realm under jest's module
 * sandbox, so one is copied, code and all, into an Error of this realm.
 */
const asError = (err: unknown): Error =>
  err instanceof Error ? err : Object.assign(new Error((err as { message?: string })?.message ?? String(err)), err);

const MISSING: Resolution = { kind: 'missing' };
const EXPIRED: Resolution = { kind: 'expired' };
