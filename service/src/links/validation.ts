import { z } from 'zod';

/** Paths the service owns or may own; a slug can never shadow them. */
export const RESERVED_SLUGS: ReadonlySet<string> = new Set([
  'api',
  'health',
  'ready',
  'livez',
  'readyz',
  'healthz',
  'metrics',
  'status',
  'admin',
  'login',
  'logout',
  'static',
  'assets',
  'favicon.ico',
  'robots.txt',
  'well-known',
  'docs',
  'www',
]);

export const SLUG_PATTERN = /^[A-Za-z0-9_-]{3,64}$/;
export const MAX_URL_LENGTH = 2048;
/** 10 years: beyond that a TTL is a typo, and `Date` arithmetic stays exact. */
export const MAX_TTL_SECONDS = 10 * 365 * 86_400;

export const slugSchema = z
  .string()
  .regex(SLUG_PATTERN, 'must be 3-64 characters of A-Z, a-z, 0-9, _ or -')
  .refine((s) => !RESERVED_SLUGS.has(s.toLowerCase()), 'is reserved');

/**
 * Accepts only absolute http(s) URLs a browser would follow safely: no
 * credentials, no control or whitespace characters, and never the service's
 * own host (a link to itself would be a redirect loop or an open redirect).
 */
export function urlSchema(publicBaseUrl: string) {
  const ownHost = new URL(publicBaseUrl).host.toLowerCase();
  return z
    .string()
    .min(1, 'is required')
    .max(MAX_URL_LENGTH, `must be at most ${MAX_URL_LENGTH} characters`)
    .superRefine((raw, ctx) => {
      const problem = urlProblem(raw, ownHost);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    });
}

function urlProblem(raw: string, ownHost: string): string | undefined {
  if (/[\u0000-\u0020\u007f-\u009f\u2028\u2029]/.test(raw)) return 'must not contain whitespace or control characters';
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return 'must be an absolute URL';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'must use http or https';
  // WHATWG parsing forgives `http:/x`, `http:///x` and backslashes; browsers do too, so we insist on the plain form.
  if (!/^https?:\/\/[^/\\]/i.test(raw)) return 'must be an absolute URL';
  if (u.username || u.password) return 'must not contain credentials';
  if (!u.hostname) return 'must have a host';
  if (u.host.toLowerCase() === ownHost) return 'must not point at this service';
  return undefined;
}

export function createLinkSchema(publicBaseUrl: string) {
  return z
    .object({
      url: urlSchema(publicBaseUrl),
      slug: slugSchema.optional(),
      ttlSeconds: z.number().int().min(1).max(MAX_TTL_SECONDS).optional(),
    })
    .strict();
}

export type CreateLinkInput = z.infer<ReturnType<typeof createLinkSchema>>;
