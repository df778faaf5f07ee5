import type { Config } from '../config';
import { AppError, ErrorCode } from '../errors';
import { Prisma, type PrismaClient } from '../generated/prisma/client';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics/registry';
import type { LinkCache } from './cache';
import type { Invalidations } from './invalidation';
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

const GENERATE_ATTEMPTS = 5;

type LinkMetrics = Pick<Metrics, 'linksCreated'>;

/**
 * Links: PostgreSQL is the source of truth; Redis a cache shared by every
 * worker and pod; each worker's local cache in front of it (redirects read
 * them through ./redirects.ts). A change is published after its commit so
 * that every worker evicts its copy.
 */
export class LinkService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly cache: LinkCache,
    private readonly invalidations: Pick<Invalidations, 'publish'>,
    private readonly clicks: ClickCounter,
    private readonly config: Pick<Config, 'PUBLIC_BASE_URL'>,
    private readonly log: Logger,
    private readonly metrics: LinkMetrics,
  ) {}

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
        // Workers that answered "no such link" for this slug hold it as a negative entry.
        await this.invalidations.publish(slug);
        return { ...toView(row, 0), shortUrl: `${this.config.PUBLIC_BASE_URL}/${slug}` };
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        if (input.slug) throw new AppError(ErrorCode.SlugTaken, `slug '${slug}' is already taken`);
        if (attempt >= GENERATE_ATTEMPTS) throw err;
      }
    }
  }

  async get(slug: string): Promise<LinkView> {
    const row = await this.prisma.link.findUnique({ where: { slug } });
    if (!row) throw linkNotFound(slug);
    return toView(row, await this.clicks.unflushed(slug));
  }

  /**
   * Invalidates Redis before and after the delete: the first makes a Redis
   * outage fail the request before anything changed (503), the second removes
   * an entry a concurrent redirect may have cached in between. Then every
   * worker's local copy goes (published after the commit).
   */
  async delete(slug: string): Promise<void> {
    await this.cache.invalidate(slug).catch(() => {
      throw new AppError(ErrorCode.ServiceUnavailable, 'cache unavailable; the link was not deleted, retry');
    });
    const { count } = await this.prisma.link.deleteMany({ where: { slug } });
    await this.cache
      .invalidate(slug)
      .catch((err: unknown) => this.log.warn({ err, slug }, 'cache invalidation failed'));
    await this.invalidations.publish(slug);
    if (count === 0) throw linkNotFound(slug);
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

/** 404 for `slug`, quoted at most 80 characters long (a request path can be far longer than any slug). */
export const linkNotFound = (slug: string) =>
  new AppError(ErrorCode.LinkNotFound, `no link with slug '${slug.slice(0, 80)}'`);

function isUniqueViolation(err: unknown): boolean {
  return err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002';
}
