import { randomBytes } from 'node:crypto';
import {
  createLink,
  json,
  sql,
  startService,
  TOKEN,
  uniqueSlug,
  type TestService,
} from '../../../test-support/service';
import { exchange } from '../../../test-support/wire';
import { cases, rawCases, REQUEST_TIMEOUT_MS, routeCases } from './bad-input.fixtures';

/**
 * Hostile or malformed requests (the corpus is in bad-input.fixtures.ts). Every
 * case carries a unique marker in its slug or URL, so "nothing stored" is
 * checked per case even while other test files write to the same database.
 */

/** Other routes: the redirect, reads and deletes with hostile paths. */
let svc: TestService;
let sentinel: string;
beforeAll(async () => {
  svc = await startService({ REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS) });
  sentinel = uniqueSlug('sentinel');
  expect((await createLink(svc.url, { url: 'https://example.com/sentinel', slug: sentinel })).status).toBe(201);
});
afterAll(() => svc.stop());

describe('HTTP-level abuse of POST /api/links', () => {
  it.each(rawCases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const marker = `bad${randomBytes(5).toString('hex')}`;
    const sent = await exchange(svc.running.port, c.chunks(marker), {
      gapMs: c.gapMs ?? 0,
      timeoutMs: REQUEST_TIMEOUT_MS * 4,
    });
    const res = sent.responses[0]!;
    expect(res.status).toBe(c.status);
    const body = JSON.parse(res.body);
    expect(body.error.code).toBe(c.code);
    expect(body.error.message.length).toBeGreaterThan(5);
    expect(await sql('SELECT slug FROM links WHERE slug = $1 OR url LIKE $2', [marker, `%${marker}%`])).toEqual([]);
  });
});

describe('hostile paths on the other routes', () => {
  it.each(routeCases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const headers: Record<string, string> = c.token === false ? {} : { authorization: `Bearer ${TOKEN}` };
    const res = await fetch(`${svc.url}${c.path}`, { method: c.method, headers, redirect: 'manual' });
    expect(res.status).toBe(c.status);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect((await json(res)).error.code).toBe(c.code);
  });
});

describe('POST /api/links with bad input', () => {
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

// Last: jest runs a file's describe blocks in order, so this sees the aftermath of every case above.
describe('after the whole corpus', () => {
  it('lost nothing, polluted no prototype and still serves from the same process', async () => {
    const res = await fetch(`${svc.url}/${sentinel}`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('https://example.com/sentinel');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((await fetch(`${svc.url}/livez`)).status).toBe(200);
  });
});
