import { BlockList, isIP } from 'node:net';
import { domainToUnicode } from 'node:url';
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
/** A path segment that may name a link: the slug's pattern, and not a reserved word. */
export const isLinkSlug = (slug: string) => SLUG_PATTERN.test(slug) && !RESERVED_SLUGS.has(slug.toLowerCase());
export const MAX_URL_LENGTH = 2048;
/** 10 years: beyond that a TTL is a typo, and `Date` arithmetic stays exact. */
export const MAX_TTL_SECONDS = 10 * 365 * 86_400;

export const slugSchema = z
  .string()
  .regex(SLUG_PATTERN, 'must be 3-64 characters of A-Z, a-z, 0-9, _ or -')
  .refine((s) => !RESERVED_SLUGS.has(s.toLowerCase()), 'is reserved');

const MAX_HOST_LENGTH = 253;
const MAX_LABEL_LENGTH = 63;

/**
 * Addresses a public link must not send a browser to: the visitor's own
 * machine or network. One list per family: a BlockList matches IPv4
 * addresses against IPv6 rules too (as ::ffff:a.b.c.d).
 */
const NON_PUBLIC_V4 = new BlockList();
const NON_PUBLIC_V6 = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['224.0.0.0', 3],
] as const) {
  NON_PUBLIC_V4.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 127],
  ['::ffff:0:0', 96],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  NON_PUBLIC_V6.addSubnet(net, prefix, 'ipv6');
}

/** Cyrillic and Greek letters that render like Latin ones: a host label made only of them impersonates a Latin name. */
const LATIN_LOOKALIKES = /^[асеһіјӏорԛѕԝхуԁοαιυνρ]+$/u;
const CONFUSABLE_SCRIPT = /[\p{Script=Cyrillic}\p{Script=Greek}\p{Script=Armenian}]/u;
const LATIN = /\p{Script=Latin}/u;
/** Bidi overrides, zero-width characters, BOM, soft hyphen: invisible, and used to disguise what a link shows. */
const INVISIBLE = /\p{Cf}/u;

/**
 * Accepts only absolute http(s) URLs a browser would follow safely: no
 * credentials, no control, whitespace or invisible characters, a public
 * fully qualified host (no IP of a private, loopback or link-local network,
 * no `localhost`), no homograph host (a label mixing Latin with Cyrillic,
 * Greek or Armenian letters, or made only of Latin lookalikes), and never
 * the service's own host (a link to itself would be a redirect loop or an
 * open redirect).
 */
export function urlSchema(publicBaseUrl: string) {
  const ownHost = new URL(publicBaseUrl).host.toLowerCase();
  return z
    .string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a string') })
    .min(1, 'is required')
    .max(MAX_URL_LENGTH, `must be at most ${MAX_URL_LENGTH} characters`)
    .superRefine((raw, ctx) => {
      const problem = urlProblem(raw, ownHost);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    });
}

function urlProblem(raw: string, ownHost: string): string | undefined {
  if (/[\u0000-\u0020\u007f-\u009f\u2028\u2029]/.test(raw)) return 'must not contain whitespace or control characters';
  if (INVISIBLE.test(raw)) return 'must not contain invisible or bidirectional formatting characters';
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
  return hostProblem(u.hostname);
}

function hostProblem(hostname: string): string | undefined {
  const bare = hostname.replace(/^\[|\]$/g, '');
  const family = isIP(bare);
  if (family !== 0) {
    const blocked = family === 4 ? NON_PUBLIC_V4.check(bare, 'ipv4') : NON_PUBLIC_V6.check(bare, 'ipv6');
    return blocked ? 'must not point at a private, loopback, link-local or multicast address' : undefined;
  }
  const name = hostname.replace(/\.$/, '');
  if (name === 'localhost' || name.endsWith('.localhost')) return 'must not point at localhost';
  if (name.length > MAX_HOST_LENGTH) return `host must be at most ${MAX_HOST_LENGTH} characters`;
  const labels = domainToUnicode(name).split('.');
  if (labels.length < 2) return 'must have a fully qualified host name';
  for (const label of labels) {
    if (label.length === 0) return 'host must not have empty labels';
    if (label.length > MAX_LABEL_LENGTH) return `host labels must be at most ${MAX_LABEL_LENGTH} characters`;
    if (!/^[\p{L}\p{M}\p{N}-]+$/u.test(label)) return 'host labels must be letters, digits or hyphens';
    if (CONFUSABLE_SCRIPT.test(label) && (LATIN.test(label) || LATIN_LOOKALIKES.test(label))) {
      return `host '${label}' looks like a Latin name written in another script (homograph)`;
    }
  }
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
