import type { WireCase } from '../../../test-support/differential';
import { TOKEN } from '../../../test-support/service';
import { cases, rawCases, routeCases } from './bad-input.fixtures';

/** The corpus of the fast redirect's differential test (./fast-redirect.test.ts). */

/** Links seeded in both databases, expiring as the SQL says; `live`: not expired. */
export const LINKS = [
  { slug: 'fp-plain', url: 'https://example.com/target', expires: 'NULL', live: true },
  { slug: 'fp-Mixed_Case-9', url: 'https://example.com/Mixed', expires: 'NULL', live: true },
  // Encoded by the Location header as Express encodes it (encodeurl): the IDN host and path stay Unicode in the link.
  { slug: 'fp-unicode', url: 'https://例え.テスト/パス/café?q=ü&r=%20', expires: 'NULL', live: true },
  { slug: 'fp-query', url: 'https://example.com/p?a=1&b=two#frag', expires: 'NULL', live: true },
  { slug: 'fp-future', url: 'https://example.com/later', expires: "now() + interval '1 day'", live: true },
  { slug: 'fp-expired', url: 'https://example.com/gone', expires: "now() - interval '1 day'", live: false },
] as const;
export const LIVE_SLUGS: ReadonlySet<string> = new Set(LINKS.filter((l) => l.live).map((l) => l.slug));
/** Slugs the requests name besides the links: unknown, reserved, too short, a reserved word in another case. */
export const OTHER_SLUGS = ['fp-missing', 'ready', 'livez', 'admin', 'Api', 'favicon.ico', 'ab', '__proto__'];
export const SLUGS = [...LINKS.map((l) => l.slug as string), ...OTHER_SLUGS];

/** A case, and the responses the fast path gives when its slug is a live link. @default 0 */
export interface Case extends WireCase {
  readonly fast?: number;
}

export const HOST = 'Host: sho.rt\r\n';
export const get = (target: string, headers = HOST, method = 'GET', version = '1.1') =>
  `${method} ${target} HTTP/${version}\r\n${headers}\r\n`;
let supplied = 0;
/** A request id the corpus supplies (well-formed, so it is kept): unique per request. */
const suppliedId = () => `fp.req-${++supplied}`;

/**
 * Every shape of request a redirect can arrive in, for one slug. `fast`: the
 * responses the fast path gives when the slug is a live link (docs/api.md lists
 * the same); Express answers the others.
 */
export function variants(slug: string): Case[] {
  const encodedFirst = `%${slug.charCodeAt(0).toString(16)}${slug.slice(1)}`;
  const fast = (name: string, chunk: string, heads?: boolean[]): Case => ({
    name: `${slug}: ${name}`,
    chunks: [chunk],
    heads,
    fast: 1,
  });
  const express = (name: string, chunk: string): Case => ({ name: `${slug}: ${name}`, chunks: [chunk] });
  return [
    fast('GET', get(`/${slug}`)),
    fast('HEAD', get(`/${slug}`, HOST, 'HEAD'), [true]),
    fast('query string', get(`/${slug}?utm_source=x&q=%20&a=1`)),
    fast('empty query', get(`/${slug}?`)),
    fast('HOST in capitals', get(`/${slug}`, 'HOST: sho.rt\r\n')),
    fast('HTTP/1.0 without Host', get(`/${slug}`, '', 'GET', '1.0')),
    fast('HTTP/1.0 keep-alive', get(`/${slug}`, `${HOST}Connection: keep-alive\r\n`, 'GET', '1.0')),
    fast('HEAD over HTTP/1.0', get(`/${slug}`, '', 'HEAD', '1.0'), [true]),
    fast('Connection: close', get(`/${slug}`, `${HOST}Connection: close\r\n`)),
    fast('request id kept', get(`/${slug}`, `${HOST}X-Request-Id: ${suppliedId()}\r\n`)),
    fast('malformed request id', get(`/${slug}`, `${HOST}X-Request-Id: has space\r\n`)),
    fast(
      'two request ids',
      get(`/${slug}`, `${HOST}X-Request-Id: ${suppliedId()}\r\nX-Request-Id: ${suppliedId()}\r\n`),
    ),
    fast('Expect: 100-continue', get(`/${slug}`, `${HOST}Expect: 100-continue\r\n`)),
    fast('GET with a body', `GET /${slug} HTTP/1.1\r\n${HOST}Content-Length: 5\r\n\r\nhello`),
    {
      name: `${slug}: pipelined GET, HEAD, GET`,
      chunks: [get(`/${slug}`) + get(`/${slug}`, HOST, 'HEAD') + get(`/${slug}?again`)],
      responses: 3,
      heads: [false, true, false],
      fast: 3,
    },
    express('fragment', get(`/${slug}#frag`)),
    express('trailing slash', get(`/${slug}/`)),
    express('double slash', get(`//${slug}`)),
    express('percent-encoded', get(`/${encodedFirst}`)),
    express('upper case', get(`/${slug.toUpperCase()}`)),
    express('absolute-form', get(`http://sho.rt/${slug}`)),
    express('absolute-form, other host', get(`http://other.example/${slug}?x=1`)),
    express('no Host under HTTP/1.1', get(`/${slug}`, '')),
    express('empty Host', get(`/${slug}`, 'Host: \r\n')),
    express('OPTIONS', get(`/${slug}`, HOST, 'OPTIONS')),
    express('POST', `POST /${slug} HTTP/1.1\r\n${HOST}Content-Length: 0\r\n\r\n`),
    express('DELETE', get(`/${slug}`, HOST, 'DELETE')),
  ];
}

/** Header lines from lower-case names, as the bad-input suite's fetch sends them (a case's own headers win). */
const headerLines = (token: string | null, extra: Record<string, string> = {}) =>
  Object.entries({
    'content-type': 'application/json',
    ...(token === null ? {} : { authorization: `Bearer ${token}` }),
    ...extra,
  })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');

/** The bad-input corpus as raw requests: its creations, its raw-socket abuse and its hostile paths. */
export function badInput(): Case[] {
  const marker = (i: number) => `fpbad${i}`;
  return [
    ...cases.map((c, i): Case => {
      const body = c.raw ? c.raw(marker(i)) : JSON.stringify(c.body!(marker(i)));
      const headers = headerLines(c.token === undefined ? TOKEN : c.token, {
        ...c.headers,
        'content-length': String(Buffer.byteLength(body)),
      });
      const target = c.name === 'token in query string' ? `/api/links?token=${TOKEN}` : '/api/links';
      return { name: `create: ${c.name}`, chunks: [`POST ${target} HTTP/1.1\r\n${HOST}${headers}\r\n${body}`] };
    }),
    ...rawCases.map((c, i): Case => ({ name: `raw: ${c.name}`, chunks: c.chunks(marker(1000 + i)), gapMs: c.gapMs })),
    ...routeCases.map((c): Case => ({
      name: `route: ${c.name}`,
      chunks: [`${c.method} ${c.path} HTTP/1.1\r\n${HOST}${c.token === false ? '' : headerLines(TOKEN)}\r\n`],
    })),
  ];
}

/** The whole corpus: every variant of every slug, then the bad input. */
export const corpus = (): Case[] => [...SLUGS.flatMap(variants), ...badInput()];
