import type { Config } from '../config';
import { AppError, ErrorCode } from '../errors';
import { Prisma, type PrismaClient } from '../generated/prisma/client';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics/registry';
import type { LinkCache } from './cache';
import type { ClickCounter } from './clicks';
import { generateSlug } from './slug';
import { RESERVED_SLUGS, type CreateLinkInput } from './validation';

export interface LinkView {
  slug: string;
  url: string;
  clicks: number;
  createdAt: string;
  expiresAt: string | null;
}

export type Resolution = { kind: 'found'; url: string } | { kind: 'missing' } | { kind: 'expired' };

const GENERATE_ATTEMPTS = 5;

/** Links: PostgreSQL is the source of truth, Redis a shared cache in front of it. */
export class LinkService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly cache: LinkCache,
    private readonly clicks: ClickCounter,
    private readonly config: Pick<Config, 'PUBLIC_BASE_URL'>,
    private readonly log: Logger,
    private readonly metrics: Pick<Metrics, 'redirects' | 'linksCreated' | 'cacheLookups'>,
  ) {}

  /**
   * The hot path: a cache hit answers without PostgreSQL. Redis failures
   * degrade to PostgreSQL reads rather than errors.
   */
  async resolve(slug: string): Promise<Resolution> {
    const cached = await this.cache.get(slug).catch(() => null);
    this.metrics.cacheLookups.inc({ result: cached === null ? 'error' : cached === undefined ? 'miss' : 'hit' });
    const link = cached ?? (await this.load(slug));
    if (link === 'missing') return { kind: 'missing' };
    if (link.expiresAtMs !== null && link.expiresAtMs <= Date.now()) return { kind: 'expired' };
    this.clicks.record(slug);
    this.metrics.redirects.inc();
    return { kind: 'found', url: link.url };
  }

  async create(input: CreateLinkInput): Promise<LinkView & { shortUrl: string }> {
    const expiresAt = input.ttlSeconds ? new Date(Date.now() + input.ttlSeconds * 1000) : null;
    for (let attempt = 1; ; attempt++) {
      const slug = input.slug ?? generateSlug();
      if (RESERVED_SLUGS.has(slug.toLowerCase())) continue;
      try {
        const row = await this.prisma.link.create({ data: { slug, url: input.url, expiresAt } });
        this.metrics.linksCreated.inc();
        await this.cache
          .set(slug, { url: row.url, expiresAtMs: row.expiresAt?.getTime() ?? null })
          .catch((err: unknown) => this.log.warn({ err, slug }, 'cache write failed after create'));
        return { ...toView(row, 0), shortUrl: `${this.config.PUBLIC_BASE_URL}/${slug}` };
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        if (input.slug) throw new AppError(409, ErrorCode.SlugTaken, `slug '${slug}' is already taken`);
        if (attempt >= GENERATE_ATTEMPTS) throw err;
      }
    }
  }

  async get(slug: string): Promise<LinkView> {
    const row = await this.prisma.link.findUnique({ where: { slug } });
    if (!row) throw notFound(slug);
    return toView(row, await this.clicks.unflushed(slug));
  }

  /**
   * Invalidates before and after the delete: the first makes a Redis outage
   * fail the request before anything changed (503), the second removes an
   * entry a concurrent redirect may have cached in between.
   */
  async delete(slug: string): Promise<void> {
    await this.cache.invalidate(slug).catch(() => {
      throw new AppError(503, ErrorCode.ServiceUnavailable, 'cache unavailable; the link was not deleted, retry');
    });
    const { count } = await this.prisma.link.deleteMany({ where: { slug } });
    await this.cache
      .invalidate(slug)
      .catch((err: unknown) => this.log.warn({ err, slug }, 'cache invalidation failed'));
    if (count === 0) throw notFound(slug);
  }

  private async load(slug: string) {
    const row = await this.prisma.link.findUnique({ where: { slug }, select: { url: true, expiresAt: true } });
    const link = row ? { url: row.url, expiresAtMs: row.expiresAt?.getTime() ?? null } : ('missing' as const);
    const write = link === 'missing' ? this.cache.setMissing(slug) : this.cache.set(slug, link);
    write.catch(() => undefined);
    return link;
  }
}

function toView(
  row: { slug: string; url: string; clicks: bigint; createdAt: Date; expiresAt: Date | null },
  unflushed: number,
): LinkView {
  return {
    slug: row.slug,
    url: row.url,
    clicks: Number(row.clicks) + unflushed,
    createdAt: row.createdAt.toISOString(),
    expiresAt: row.expiresAt?.toISOString() ?? null,
  };
}

const notFound = (slug: string) => new AppError(404, ErrorCode.LinkNotFound, `no link with slug '${slug}'`);

function isUniqueViolation(err: unknown): boolean {
  return err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002';
}
