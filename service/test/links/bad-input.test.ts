import { randomBytes } from 'node:crypto';
import { json, sql, startService, TOKEN, type TestService } from '../helpers';

/**
 * Hostile or malformed link creations. Every case carries a unique marker in
 * its slug or URL, so "nothing stored" is checked per case even while other
 * test files write to the same database.
 */
interface Case {
  name: string;
  status: number;
  code: string;
  body?: (m: string) => unknown;
  raw?: (m: string) => string;
  headers?: Record<string, string>;
  token?: string | null;
}

const ok = (m: string) => `https://example.com/${m}`;
const cases: Case[] = [
  // URLs
  ...[
    ['javascript scheme', (m: string) => `javascript:alert('${m}')`],
    ['JavaScript scheme, mixed case', (m: string) => `JaVaScRiPt:alert('${m}')`],
    ['data scheme', (m: string) => `data:text/html,<script>${m}</script>`],
    ['file scheme', (m: string) => `file:///etc/passwd?${m}`],
    ['ftp scheme', (m: string) => `ftp://example.com/${m}`],
    ['vbscript scheme', (m: string) => `vbscript:msgbox("${m}")`],
    ['mailto scheme', (m: string) => `mailto:${m}@example.com`],
    ['relative path', (m: string) => `/${m}`],
    ['protocol-relative', (m: string) => `//example.com/${m}`],
    ['bare host', (m: string) => `example.com/${m}`],
    ['credentials', (m: string) => `https://user:pass@example.com/${m}`],
    ['username only', (m: string) => `https://user@example.com/${m}`],
    ['leading space', (m: string) => ` https://example.com/${m}`],
    ['embedded newline', (m: string) => `https://example.com/${m}\nSet-Cookie: x=1`],
    ['embedded tab', (m: string) => `https://exa\tmple.com/${m}`],
    ['NUL byte', (m: string) => `https://example.com/${m}\u0000`],
    ['DEL character', (m: string) => `https://example.com/${m}\u007f`],
    ['C1 control', (m: string) => `https://example.com/${m}\u0085`],
    ['line separator', (m: string) => `https://example.com/${m}\u2028`],
    ['own host', (m: string) => `http://sho.rt/${m}`],
    ['own host, upper case', (m: string) => `http://SHO.RT/${m}`],
    ['http with no host', (m: string) => `http:///${m}`],
    ['single slash', (m: string) => `https:/example.com/${m}`],
    ['backslashes', (m: string) => `https:\\\\example.com\\${m}`],
    ['scheme only', (m: string) => `https:${m}`],
    ['over 2048 characters', (m: string) => `https://example.com/${m}/${'a'.repeat(2048)}`],
    ['empty string', () => ''],
  ].map(([name, url]): Case => ({
    name: `url: ${name as string}`,
    status: 400,
    code: 'validation_failed',
    body: (m) => ({ url: (url as (m: string) => string)(m), slug: m }),
  })),
  ...[
    ['number', 42],
    ['null', null],
    ['array', ['https://example.com/']],
    ['object', { href: 'https://example.com/' }],
    ['boolean', true],
  ].map(([name, url]): Case => ({
    name: `url: ${name as string} instead of string`,
    status: 400,
    code: 'validation_failed',
    body: (m) => ({ url, slug: m }),
  })),
  { name: 'url: missing', status: 400, code: 'validation_failed', body: (m) => ({ slug: m }) },
  // Slugs (the marker goes into the URL)
  ...[
    ['too short', 'ab'],
    ['too long', 'a'.repeat(65)],
    ['space', 'has space'],
    ['slash', 'a/b/c'],
    ['dot-dot', '..'],
    ['percent-encoded', 'a%2Fb'],
    ['unicode homoglyph', 'раураl'],
    ['emoji', 'link🔥'],
    ['SQL injection', "x'; DROP TABLE links;--"],
    ['reserved: api', 'api'],
    ['reserved: health', 'health'],
    ['reserved: ready', 'ready'],
    ['reserved: livez', 'livez'],
    ['reserved: metrics', 'metrics'],
    ['reserved, upper case', 'HEALTH'],
    ['empty', ''],
  ].map(([name, slug]): Case => ({
    name: `slug: ${name}`,
    status: 400,
    code: 'validation_failed',
    body: (m) => ({ url: ok(m), slug }),
  })),
  { name: 'slug: number', status: 400, code: 'validation_failed', body: (m) => ({ url: ok(m), slug: 12345 }) },
  // ttlSeconds
  ...[
    ['zero', 0],
    ['negative', -5],
    ['fraction', 1.5],
    ['string', '60'],
    ['huge', 1e20],
    ['above ten years', 10 * 365 * 86_400 + 1],
  ].map(([name, ttl]): Case => ({
    name: `ttlSeconds: ${name}`,
    status: 400,
    code: 'validation_failed',
    body: (m) => ({ url: ok(m), ttlSeconds: ttl }),
  })),
  // Body shape
  { name: 'unknown field', status: 400, code: 'validation_failed', body: (m) => ({ url: ok(m), admin: true }) },
  {
    name: '__proto__ key',
    status: 400,
    code: 'validation_failed',
    raw: (m) => `{"url":"${ok(m)}","__proto__":{"polluted":true}}`,
  },
  {
    name: 'constructor key',
    status: 400,
    code: 'validation_failed',
    raw: (m) => `{"url":"${ok(m)}","constructor":{"prototype":{"x":1}}}`,
  },
  { name: 'JSON array', status: 400, code: 'validation_failed', raw: (m) => `["${ok(m)}"]` },
  { name: 'JSON string', status: 400, code: 'invalid_json', raw: (m) => `"${ok(m)}"` },
  { name: 'JSON null', status: 400, code: 'invalid_json', raw: (m) => `null ${m}` },
  { name: 'truncated JSON', status: 400, code: 'invalid_json', raw: (m) => `{"url":"${ok(m)}"` },
  { name: 'trailing comma', status: 400, code: 'invalid_json', raw: (m) => `{"url":"${ok(m)}",}` },
  { name: 'single quotes', status: 400, code: 'invalid_json', raw: (m) => `{'url':'${ok(m)}'}` },
  { name: 'empty body (parsed as {})', status: 400, code: 'validation_failed', raw: () => '' },
  {
    name: 'body over 16 KiB',
    status: 413,
    code: 'payload_too_large',
    raw: (m) => JSON.stringify({ url: ok(m), pad: 'x'.repeat(17 * 1024) }),
  },
  // Content types
  {
    name: 'text/plain',
    status: 415,
    code: 'unsupported_media_type',
    raw: (m) => JSON.stringify({ url: ok(m) }),
    headers: { 'content-type': 'text/plain' },
  },
  {
    name: 'form-encoded',
    status: 415,
    code: 'unsupported_media_type',
    raw: (m) => `url=${encodeURIComponent(ok(m))}`,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  },
  {
    name: 'multipart',
    status: 415,
    code: 'unsupported_media_type',
    raw: (m) => `--b\r\n\r\n${ok(m)}\r\n--b--`,
    headers: { 'content-type': 'multipart/form-data; boundary=b' },
  },
  {
    name: 'latin1 charset',
    status: 415,
    code: 'unsupported_media_type',
    raw: (m) => JSON.stringify({ url: ok(m) }),
    headers: { 'content-type': 'application/json; charset=iso-8859-1' },
  },
  {
    name: 'gzip encoding claimed',
    status: 400,
    code: 'bad_request',
    raw: (m) => JSON.stringify({ url: ok(m) }),
    headers: { 'content-encoding': 'gzip' },
  },
  {
    name: 'unknown encoding',
    status: 415,
    code: 'unsupported_media_type',
    raw: (m) => JSON.stringify({ url: ok(m) }),
    headers: { 'content-encoding': 'br-x' },
  },
  // Tokens
  {
    name: 'no Authorization header',
    status: 401,
    code: 'unauthorized',
    body: (m) => ({ url: ok(m), slug: m }),
    token: null,
  },
  { name: 'empty bearer', status: 401, code: 'unauthorized', body: (m) => ({ url: ok(m), slug: m }), token: '' },
  {
    name: 'wrong token',
    status: 401,
    code: 'unauthorized',
    body: (m) => ({ url: ok(m), slug: m }),
    token: 'wrong-token-0123456789abcdef',
  },
  {
    name: 'token prefix',
    status: 401,
    code: 'unauthorized',
    body: (m) => ({ url: ok(m), slug: m }),
    token: TOKEN.slice(0, -1),
  },
  {
    name: 'token with suffix',
    status: 401,
    code: 'unauthorized',
    body: (m) => ({ url: ok(m), slug: m }),
    token: `${TOKEN}0`,
  },
  {
    name: 'lower-case scheme word',
    status: 401,
    code: 'unauthorized',
    body: (m) => ({ url: ok(m), slug: m }),
    headers: { authorization: `bearer ${TOKEN}` },
  },
  {
    name: 'Basic auth',
    status: 401,
    code: 'unauthorized',
    body: (m) => ({ url: ok(m), slug: m }),
    headers: { authorization: `Basic ${Buffer.from(`a:${TOKEN}`).toString('base64')}` },
  },
  {
    name: 'token in query string',
    status: 401,
    code: 'unauthorized',
    body: (m) => ({ url: ok(m), slug: m }),
    token: null,
  },
];

let svc: TestService;
beforeAll(async () => {
  svc = await startService();
});
afterAll(() => svc.stop());

describe('POST /api/links with bad input', () => {
  it('has at least 50 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(50);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const marker = `bad${randomBytes(5).toString('hex')}`;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (c.token !== null) headers.authorization = `Bearer ${c.token ?? TOKEN}`;
    Object.assign(headers, c.headers);
    const res = await fetch(`${svc.url}/api/links${c.name === 'token in query string' ? `?token=${TOKEN}` : ''}`, {
      method: 'POST',
      headers,
      body: c.raw ? c.raw(marker) : JSON.stringify(c.body!(marker)),
    });
    expect(res.status).toBe(c.status);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = await json(res);
    expect(body.error.code).toBe(c.code);
    expect(typeof body.error.message).toBe('string');
    expect(body.error.message.length).toBeGreaterThan(5);
    expect(await sql('SELECT slug FROM links WHERE slug = $1 OR url LIKE $2', [marker, `%${marker}%`])).toEqual([]);
  });

  it('names the offending field in validation errors', async () => {
    const res = await fetch(`${svc.url}/api/links`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: 'javascript:alert(1)', slug: 'api', ttlSeconds: -1 }),
    });
    const body = await json(res);
    expect(body.error.details.map((d: { field: string }) => d.field).sort()).toEqual(['slug', 'ttlSeconds', 'url']);
    expect(body.error.message).toContain('url must use http or https');
  });
});
