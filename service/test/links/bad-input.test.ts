import { randomBytes } from 'node:crypto';
import net from 'node:net';
import {
  createLink,
  json,
  sql,
  startService,
  TOKEN,
  uniqueSlug,
  type TestService,
} from '../../../test-support/service';
import { cases, rawCases, REQUEST_TIMEOUT_MS, routeCases } from './bad-input.fixtures';

/**
 * Hostile or malformed requests (the corpus is in bad-input.fixtures.ts). Every
 * case carries a unique marker in its slug or URL, so "nothing stored" is
 * checked per case even while other test files write to the same database.
 */

/** Sends `chunks` on a raw socket, `gapMs` apart, and reads the whole answer. */
function rawRequest(port: number, chunks: string[], gapMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (d) => (received += d));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      const match = /^HTTP\/1\.1 (\d{3})[^]*?\r\n\r\n([^]*)$/.exec(received);
      if (!match) reject(new Error(`no HTTP response: ${JSON.stringify(received.slice(0, 200))}`));
      else resolve({ status: Number(match[1]), body: match[2]! });
    });
    socket.setTimeout(REQUEST_TIMEOUT_MS * 4, () => socket.destroy());
    void (async () => {
      for (const chunk of chunks) {
        if (socket.destroyed) return;
        socket.write(chunk);
        if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
      }
    })();
  });
}

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
    const res = await rawRequest(svc.running.port, c.chunks(marker), c.gapMs ?? 0);
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
