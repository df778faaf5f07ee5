import { TOKEN } from '../../../test-support/service';

/**
 * The bad-input corpus: hostile or malformed link creations (`cases`),
 * HTTP-level abuse on raw sockets (`rawCases`) and hostile paths on the other
 * routes (`routeCases`). `m` is each case's unique marker.
 */
export interface Case {
  name: string;
  status: number;
  code: string;
  body?: (m: string) => unknown;
  raw?: (m: string) => string;
  headers?: Record<string, string>;
  token?: string | null;
}

const ok = (m: string) => `https://example.com/${m}`;
const urlCase = (name: string, url: (m: string) => string): Case => ({
  name,
  status: 400,
  code: 'validation_failed',
  body: (m) => ({ url: url(m), slug: m }),
});
export const cases: Case[] = [
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
  // More schemes, and scheme disguises
  ...[
    ['blob scheme', (m: string) => `blob:https://example.com/${m}`],
    ['about scheme', (m: string) => `about:blank#${m}`],
    ['chrome scheme', (m: string) => `chrome://settings/${m}`],
    ['ws scheme', (m: string) => `ws://example.com/${m}`],
    ['wss scheme', (m: string) => `wss://example.com/${m}`],
    ['gopher scheme', (m: string) => `gopher://example.com/${m}`],
    ['jar scheme', (m: string) => `jar:https://example.com/${m}.jar!/`],
    ['view-source scheme', (m: string) => `view-source:https://example.com/${m}`],
    ['intent scheme', (m: string) => `intent://example.com/${m}#Intent;end`],
    ['tel scheme', (m: string) => `tel:+1555${m}`],
    ['sms scheme', (m: string) => `sms:+1555?body=${m}`],
    ['ssh scheme', (m: string) => `ssh://example.com/${m}`],
    ['ldap scheme', (m: string) => `ldap://example.com/${m}`],
    ['dict scheme', (m: string) => `dict://example.com/${m}`],
    ['percent-encoded javascript', (m: string) => `%6Aavascript:alert('${m}')`],
    ['https then javascript', (m: string) => `https:javascript:alert('${m}')`],
    ['fullwidth scheme', (m: string) => `ｈｔｔｐｓ://example.com/${m}`],
  ].map(([name, url]) => urlCase(`scheme: ${name as string}`, url as (m: string) => string)),
  // IDN, homographs and invisible characters
  ...[
    ['Cyrillic look-alike of apple', (m: string) => `https://аррӏе.com/${m}`],
    ['one Cyrillic a in paypal', (m: string) => `https://pаypal.com/${m}`],
    ['punycode of a homograph', (m: string) => `https://xn--80ak6aa92e.com/${m}`],
    ['punycode of a mixed-script label', (m: string) => `https://xn--pypal-4ve.com/${m}`],
    ['Greek omicron in google', (m: string) => `https://gοogle.com/${m}`],
    ['Armenian o in google', (m: string) => `https://gօogle.com/${m}`],
    ['Cyrillic subdomain look-alike', (m: string) => `https://ѕесurе.example.com/${m}`],
    ['right-to-left override in path', (m: string) => `https://example.com/${m}\u202egnp.exe`],
    ['right-to-left override in host', (m: string) => `https://exa\u202emple.com/${m}`],
    ['left-to-right embedding', (m: string) => `https://example.com/\u202a${m}`],
    ['right-to-left isolate', (m: string) => `https://example.com/\u2067${m}`],
    ['zero-width space in host', (m: string) => `https://ex\u200bample.com/${m}`],
    ['zero-width joiner in path', (m: string) => `https://example.com/${m}\u200d`],
    ['zero-width non-joiner', (m: string) => `https://example.com/\u200c${m}`],
    ['byte-order mark first', (m: string) => `\ufeffhttps://example.com/${m}`],
    ['soft hyphen in host', (m: string) => `https://exam\u00adple.com/${m}`],
    ['word joiner', (m: string) => `https://example.com/\u2060${m}`],
    ['Unicode tag characters', (m: string) => `https://example.com/${m}\u{e0041}`],
    ['own host in fullwidth letters', (m: string) => `https://ｓｈｏ．ｒｔ/${m}`],
    ['own host with ideographic full stop', (m: string) => `http://sho。rt/${m}`],
    ['division slash faking a path', (m: string) => `https://example.com∕evil.com/${m}`],
    ['fraction slash faking a path', (m: string) => `https://example.com⁄evil.com/${m}`],
    ['underscore in host', (m: string) => `https://ex_ample.com/${m}`],
  ].map(([name, url]) => urlCase(`unicode: ${name as string}`, url as (m: string) => string)),
  // Hosts a public link must not send a visitor to
  ...[
    ['loopback IPv4', (m: string) => `http://127.0.0.1/${m}`],
    ['loopback as a decimal integer', (m: string) => `http://2130706433/${m}`],
    ['loopback in hex', (m: string) => `http://0x7f.1/${m}`],
    ['loopback in octal', (m: string) => `http://0177.0.0.1/${m}`],
    ['loopback IPv6', (m: string) => `http://[::1]/${m}`],
    ['IPv4-mapped loopback', (m: string) => `http://[::ffff:127.0.0.1]/${m}`],
    ['unspecified address', (m: string) => `http://0.0.0.0/${m}`],
    ['private 10/8', (m: string) => `http://10.0.0.1/${m}`],
    ['private 172.16/12', (m: string) => `http://172.16.5.4/${m}`],
    ['private 192.168/16', (m: string) => `http://192.168.0.1/${m}`],
    ['cloud metadata address', (m: string) => `http://169.254.169.254/latest/${m}`],
    ['carrier-grade NAT', (m: string) => `http://100.64.0.1/${m}`],
    ['IPv6 link-local', (m: string) => `http://[fe80::1]/${m}`],
    ['IPv6 unique local', (m: string) => `http://[fd00::1]/${m}`],
    ['multicast', (m: string) => `http://224.0.0.1/${m}`],
    ['localhost', (m: string) => `http://localhost/${m}`],
    ['localhost with trailing dot', (m: string) => `http://localhost./${m}`],
    ['a .localhost subdomain', (m: string) => `http://api.localhost/${m}`],
    ['single-label intranet host', (m: string) => `http://intranet/${m}`],
  ].map(([name, url]) => urlCase(`host: ${name as string}`, url as (m: string) => string)),
  // Overlong values
  urlCase('overlong: host of 254 characters', (m) => `https://${`${'a'.repeat(62)}.`.repeat(4)}co/${m}`),
  urlCase('overlong: host label of 64 characters', (m) => `https://${'a'.repeat(64)}.com/${m}`),
  urlCase('overlong: URL of 2049 characters', (m) => `https://example.com/${m}/`.padEnd(2049, 'x')),
  urlCase('overlong: empty host label', (m) => `https://example..com/${m}`),
  {
    name: 'overlong: URL of 100 KiB',
    status: 413,
    code: 'payload_too_large',
    body: (m) => ({ url: `https://example.com/${m}/${'x'.repeat(100 * 1024)}` }),
  },
  {
    name: 'overlong: slug of 1000 characters',
    status: 400,
    code: 'validation_failed',
    body: (m) => ({ url: ok(m), slug: 'a'.repeat(1000) }),
  },
  // Control characters
  ...[
    ['carriage return', (m: string) => `https://example.com/${m}\r`],
    ['CRLF header injection', (m: string) => `https://example.com/${m}\r\nLocation: https://evil.example`],
    ['vertical tab', (m: string) => `https://example.com/\u000b${m}`],
    ['form feed', (m: string) => `https://example.com/\u000c${m}`],
    ['escape (ANSI) sequence', (m: string) => `https://example.com/${m}\u001b[31m`],
    ['paragraph separator', (m: string) => `https://example.com/${m}\u2029`],
  ].map(([name, url]) => urlCase(`control: ${name as string}`, url as (m: string) => string)),
  {
    name: 'control: NUL in slug',
    status: 400,
    code: 'validation_failed',
    body: (m) => ({ url: ok(m), slug: 'abc\u0000def' }),
  },
  // JSON type confusion
  ...[
    ['slug: array', { slug: ['abcdef'] }],
    ['slug: object', { slug: { $ne: null } }],
    ['slug: null', { slug: null }],
    ['slug: boolean', { slug: true }],
    ['ttlSeconds: array', { ttlSeconds: [60] }],
    ['ttlSeconds: object', { ttlSeconds: { $gt: 0 } }],
    ['ttlSeconds: null', { ttlSeconds: null }],
    ['ttlSeconds: boolean', { ttlSeconds: true }],
    ['ttlSeconds: exponent string', { ttlSeconds: '1e3' }],
    ['ttlSeconds: hex string', { ttlSeconds: '0x10' }],
  ].map(([name, extra]): Case => ({
    name: `type: ${name as string}`,
    status: 400,
    code: 'validation_failed',
    body: (m) => ({ url: ok(m), ...(extra as object) }),
  })),
  { name: 'type: url nested in arrays', status: 400, code: 'validation_failed', body: (m) => ({ url: [[ok(m)]] }) },
  { name: 'type: url as a Mongo operator', status: 400, code: 'validation_failed', body: () => ({ url: { $gt: '' } }) },
  { name: 'type: body is a number', status: 400, code: 'invalid_json', raw: (m) => `42 ${m}` },
  { name: 'type: body is true', status: 400, code: 'invalid_json', raw: () => 'true' },
  {
    name: 'type: duplicate url key, hostile one last',
    status: 400,
    code: 'validation_failed',
    raw: (m) => `{"url":"${ok(m)}","url":"javascript:alert('${m}')"}`,
  },
  {
    name: 'type: url escaped as \\u0000-style JSON',
    status: 400,
    code: 'validation_failed',
    raw: (m) => `{"url":"\\u006aavascript:alert('${m}')"}`,
  },
  // Huge and odd numbers
  ...[
    ['1e308', '1e308'],
    ['1e999 (Infinity)', '1e999'],
    ['-1e308', '-1e308'],
    ['2^53 + 1', '9007199254740993'],
    ['1e21', '1e21'],
    ['1e-300', '1e-300'],
    ['negative zero', '-0'],
    ['max safe integer', '9007199254740991'],
  ].map(([name, n]): Case => ({
    name: `number: ttlSeconds ${name}`,
    status: 400,
    code: 'validation_failed',
    raw: (m) => `{"url":"${ok(m)}","ttlSeconds":${n}}`,
  })),
  // Prototype pollution
  ...[
    ['nested __proto__', (m: string) => `{"url":"${ok(m)}","slug":{"__proto__":{"polluted":true}}}`],
    ['escaped __proto__ key', (m: string) => `{"url":"${ok(m)}","\\u005f_proto__":{"polluted":true}}`],
    ['prototype key', (m: string) => `{"url":"${ok(m)}","prototype":{"polluted":true}}`],
    ['__defineGetter__ key', (m: string) => `{"url":"${ok(m)}","__defineGetter__":"polluted"}`],
    ['toString key', (m: string) => `{"url":"${ok(m)}","toString":"polluted"}`],
    ['hasOwnProperty key', (m: string) => `{"url":"${ok(m)}","hasOwnProperty":"polluted"}`],
    ['__proto__ as null', (m: string) => `{"url":"${ok(m)}","__proto__":null}`],
    ['constructor.prototype in url', (m: string) => `{"url":{"constructor":{"prototype":{"polluted":"${m}"}}}}`],
  ].map(([name, raw]): Case => ({
    name: `pollution: ${name as string}`,
    status: 400,
    code: 'validation_failed',
    raw: raw as (m: string) => string,
  })),
  // SQL-looking slugs (the marker goes into the URL)
  ...[
    ["' OR '1'='1", "' OR '1'='1"],
    ['pg_sleep', '1;SELECT pg_sleep(10)'],
    ['comment', "admin'--"],
    ['double quotes', 'x" OR ""="'],
    ['union', '1 UNION SELECT * FROM links'],
    ['dollar quoting', '$$; DROP TABLE links; $$'],
    ['encoded quote', '%27%20OR%201=1'],
    ['escaped quote', "\\'; --"],
    ['semicolon', 'links;--'],
    ['LIKE wildcard', 'a%_b'],
  ].map(([name, slug]): Case => ({
    name: `sql: ${name}`,
    status: 400,
    code: 'validation_failed',
    body: (m) => ({ url: ok(m), slug }),
  })),
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

/**
 * Requests no fetch client would send, written to a socket: header abuse and
 * slow (slowloris-style) senders. `chunks` are written `gapMs` apart; the
 * whole answer is read until the server closes the connection.
 */
export interface RawCase {
  name: string;
  status: number;
  code: string;
  chunks: (m: string) => string[];
  gapMs?: number;
}

/** Short, so the slowloris cases end quickly; the slow cases "within the timeout" take about 1.2 s of it. */
export const REQUEST_TIMEOUT_MS = 3_000;
const SLOW_GAP_MS = 150;

const head = (extra: string) =>
  `POST /api/links HTTP/1.1\r\nHost: sho.rt\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\n${extra}Connection: close\r\n\r\n`;
const post = (body: string, extra = '') => `${head(`Content-Length: ${Buffer.byteLength(body)}\r\n${extra}`)}${body}`;
const hostile = (m: string) => JSON.stringify({ url: `javascript:alert('${m}')`, slug: m });
const split = (s: string, n: number) =>
  Array.from({ length: n }, (_, i) => s.slice((i * s.length) / n, ((i + 1) * s.length) / n));

export const rawCases: RawCase[] = [
  {
    name: 'header over 16 KiB',
    status: 431,
    code: 'headers_too_large',
    chunks: (m) => [post(hostile(m), `X-Pad: ${'a'.repeat(17 * 1024)}\r\n`)],
  },
  {
    name: 'request line over 16 KiB',
    status: 431,
    code: 'headers_too_large',
    chunks: (m) => [post(hostile(m)).replace('/api/links', `/api/links?${'a'.repeat(17 * 1024)}`)],
  },
  {
    name: 'conflicting Content-Length headers',
    status: 400,
    code: 'bad_request',
    chunks: (m) => [post(hostile(m), 'Content-Length: 5\r\n')],
  },
  {
    name: 'Content-Length with Transfer-Encoding (smuggling)',
    status: 400,
    code: 'bad_request',
    chunks: (m) => [post(hostile(m), 'Transfer-Encoding: chunked\r\n')],
  },
  {
    name: 'unknown Transfer-Encoding',
    status: 400,
    code: 'bad_request',
    chunks: (m) => [`${head('Transfer-Encoding: xchunked\r\n')}${hostile(m)}`],
  },
  {
    name: 'negative Content-Length',
    status: 400,
    code: 'bad_request',
    chunks: (m) => [`${head('Content-Length: -1\r\n')}${hostile(m)}`],
  },
  {
    name: 'non-numeric Content-Length',
    status: 400,
    code: 'bad_request',
    chunks: (m) => [`${head('Content-Length: 1e3\r\n')}${hostile(m)}`],
  },
  {
    name: 'space in a header name',
    status: 400,
    code: 'bad_request',
    chunks: (m) => [post(hostile(m), 'Bad Header: x\r\n')],
  },
  {
    name: 'NUL in a header value',
    status: 400,
    code: 'bad_request',
    chunks: (m) => [post(hostile(m), 'X-Note: a\u0000b\r\n')],
  },
  {
    name: 'obsolete line folding',
    status: 400,
    code: 'bad_request',
    chunks: (m) => [post(hostile(m), 'X-Note: a\r\n folded\r\n')],
  },
  {
    name: 'no Host header',
    status: 400,
    code: 'bad_request',
    chunks: (m) => [post(JSON.stringify({ url: `https://example.com/${m}`, slug: m })).replace('Host: sho.rt\r\n', '')],
  },
  {
    name: 'invalid method token',
    status: 400,
    code: 'bad_request',
    chunks: (m) => [post(hostile(m)).replace('POST', 'P@ST')],
  },
  {
    name: 'HTTP version 9.9',
    status: 400,
    code: 'bad_request',
    chunks: (m) => [post(hostile(m)).replace('HTTP/1.1', 'HTTP/9.9')],
  },
  {
    name: 'unsupported Expect header',
    status: 417,
    code: 'expectation_failed',
    chunks: (m) => [post(hostile(m), 'Expect: 200-ok\r\n')],
  },
  {
    name: 'declared body over 16 KiB (refused before it is read)',
    status: 413,
    code: 'payload_too_large',
    chunks: (m) => [head('Content-Length: 1000000\r\n'), `{"url":"https://example.com/${m}"`],
  },
  {
    name: 'chunked body over 16 KiB',
    status: 413,
    code: 'payload_too_large',
    chunks: (m) => {
      const body = JSON.stringify({ url: `https://example.com/${m}`, pad: 'x'.repeat(17 * 1024) });
      return [`${head('Transfer-Encoding: chunked\r\n')}${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`];
    },
  },
  {
    name: 'slow body, hostile URL, within the timeout',
    status: 400,
    code: 'validation_failed',
    chunks: (m) => {
      const full = post(hostile(m));
      const bodyAt = full.indexOf('\r\n\r\n') + 4;
      return [full.slice(0, bodyAt), ...split(full.slice(bodyAt), 6)];
    },
    gapMs: SLOW_GAP_MS,
  },
  {
    name: 'slow headers then a hostile body, within the timeout',
    status: 400,
    code: 'validation_failed',
    chunks: (m) => split(post(hostile(m)), 8),
    gapMs: SLOW_GAP_MS,
  },
  {
    name: 'slow invalid JSON, within the timeout',
    status: 400,
    code: 'invalid_json',
    chunks: (m) => {
      const body = `{"url":"https://example.com/${m}",,}`;
      return [head(`Content-Length: ${body.length}\r\n`), ...split(body, 6)];
    },
    gapMs: SLOW_GAP_MS,
  },
  {
    name: 'body stops short of Content-Length (slowloris body)',
    status: 408,
    code: 'request_timeout',
    chunks: (m) => [head('Content-Length: 500\r\n'), `{"url":"https://example.com/${m}"`],
  },
  {
    name: 'headers never finish (slowloris)',
    status: 408,
    code: 'request_timeout',
    chunks: (m) => ['POST /api/links HTTP/1.1\r\n', 'Host: sho.rt\r\n', `X-Marker: ${m}\r\n`, 'X-Slow: 1\r\n'],
    gapMs: 400,
  },
];

export interface RouteCase {
  name: string;
  method: string;
  path: string;
  status: number;
  code: string;
  token?: boolean;
}
const sqlPath = encodeURIComponent("' OR 1=1--");
export const routeCases: RouteCase[] = [
  { name: 'redirect: malformed percent-encoding', method: 'GET', path: '/%', status: 400, code: 'bad_request' },
  { name: 'redirect: truncated UTF-8 escape', method: 'GET', path: '/%E0%A4%A', status: 400, code: 'bad_request' },
  { name: 'redirect: SQL in the slug', method: 'GET', path: `/${sqlPath}`, status: 404, code: 'link_not_found' },
  {
    name: 'redirect: encoded path traversal',
    method: 'GET',
    path: '/..%2f..%2fetc%2fpasswd',
    status: 404,
    code: 'link_not_found',
  },
  {
    name: 'redirect: 2000-character slug',
    method: 'GET',
    path: `/${'a'.repeat(2000)}`,
    status: 404,
    code: 'link_not_found',
  },
  { name: 'redirect: NUL in the slug', method: 'GET', path: '/abc%00def', status: 404, code: 'link_not_found' },
  { name: 'redirect: __proto__', method: 'GET', path: '/__proto__', status: 404, code: 'link_not_found' },
  {
    name: 'redirect: unicode slug',
    method: 'GET',
    path: `/${encodeURIComponent('раураl')}`,
    status: 404,
    code: 'link_not_found',
  },
  { name: 'redirect: reserved slug', method: 'GET', path: '/admin', status: 404, code: 'link_not_found' },
  { name: 'redirect: POST to a slug', method: 'POST', path: '/abcdef', status: 404, code: 'not_found' },
  { name: 'read: malformed percent-encoding', method: 'GET', path: '/api/links/%ZZ', status: 400, code: 'bad_request' },
  { name: 'read: SQL in the slug', method: 'GET', path: `/api/links/${sqlPath}`, status: 404, code: 'link_not_found' },
  { name: 'read: __proto__', method: 'GET', path: '/api/links/__proto__', status: 404, code: 'link_not_found' },
  { name: 'read: constructor', method: 'GET', path: '/api/links/constructor', status: 404, code: 'link_not_found' },
  { name: 'read: path traversal', method: 'GET', path: '/api/links/..%2f..%2f', status: 404, code: 'link_not_found' },
  {
    name: 'delete: no token',
    method: 'DELETE',
    path: '/api/links/abcdef',
    status: 401,
    code: 'unauthorized',
    token: false,
  },
  {
    name: 'delete: SQL in the slug',
    method: 'DELETE',
    path: `/api/links/${sqlPath}`,
    status: 404,
    code: 'link_not_found',
  },
  { name: 'delete: LIKE wildcard slug', method: 'DELETE', path: '/api/links/%25', status: 404, code: 'link_not_found' },
  { name: 'delete: NUL in the slug', method: 'DELETE', path: '/api/links/a%00b', status: 404, code: 'link_not_found' },
  { name: 'unknown method on the API', method: 'PUT', path: '/api/links', status: 404, code: 'not_found' },
  { name: 'PATCH a link', method: 'PATCH', path: '/api/links/abcdef', status: 404, code: 'not_found' },
];
