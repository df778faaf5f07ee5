import express from 'express';
import { ENTRY_OVERHEAD_BYTES, LocalLinkCache } from '../../src/links/local-cache';

const link = (url: string) => ({ url, expiresAtMs: null });
/** What the cache holds for an ASCII URL that needs no encoding: its Location is the URL. */
const entry = (url: string) => ({ ...link(url), location: url });

describe('LocalLinkCache', () => {
  it('holds at most maxEntries, dropping the least recently used', () => {
    const c = new LocalLinkCache({ maxEntries: 100, maxMiB: 16, ttlMs: 60_000, missingTtlMs: 5_000 });
    for (let i = 0; i < 250; i++) c.fill(`s${i}`, link(`https://example.com/${i}`), c.version);
    expect(c.size).toBe(100);
    expect(c.get('s0')).toBeUndefined();
    expect(c.get('s249')).toEqual(entry('https://example.com/249'));
  });

  it('holds at most maxMiB of entries, however long their URLs', () => {
    const c = new LocalLinkCache({ maxEntries: 1_000_000, maxMiB: 1, ttlMs: 60_000, missingTtlMs: 5_000 });
    const long = `https://example.com/${'x'.repeat(2_000)}`;
    for (let i = 0; i < 5_000; i++) c.fill(`s${i}`, link(long), c.version);
    const perEntry = 5 + long.length + ENTRY_OVERHEAD_BYTES;
    expect(c.size).toBe(Math.floor((1024 * 1024) / perEntry));
  });

  it("holds each link's Location encoded as Express's res.location encodes it, and counts it when it differs", () => {
    const c = new LocalLinkCache({ maxEntries: 1_000_000, maxMiB: 1, ttlMs: 60_000, missingTtlMs: 5_000 });
    const url = `https://example.com/café/${'é'.repeat(1_000)}?q=a b`;
    c.fill('s0', link(url), c.version);
    const location = express.response.location.call({ set: (_: string, v: string) => v } as never, url) as unknown;
    expect(c.get('s0')).toEqual({ ...link(url), location });
    for (let i = 1; i < 5_000; i++) c.fill(`s${i}`, link(url), c.version);
    const perEntry = 5 + url.length + String(location).length + ENTRY_OVERHEAD_BYTES;
    expect(c.size).toBe(Math.floor((1024 * 1024) / perEntry));
  });

  it('does not store what a read found when an invalidation arrived during the read', () => {
    const c = new LocalLinkCache({ maxEntries: 10, maxMiB: 1, ttlMs: 60_000, missingTtlMs: 5_000 });
    const before = c.version;
    c.evict('other');
    c.fill('s', link('https://example.com/stale'), before);
    expect(c.get('s')).toBeUndefined();
    c.fill('s', link('https://example.com/fresh'), c.version);
    expect(c.get('s')).toEqual(entry('https://example.com/fresh'));
  });

  it('serves an entry until its TTL, and "missing" for the shorter of the two TTLs', async () => {
    const c = new LocalLinkCache({ maxEntries: 10, maxMiB: 1, ttlMs: 300, missingTtlMs: 100 });
    c.fill('found', link('https://example.com/f'), c.version);
    c.fill('gone', 'missing', c.version);
    await new Promise((r) => setTimeout(r, 150));
    expect(c.get('gone')).toBeUndefined();
    expect(c.get('found')).toEqual(entry('https://example.com/f'));
    await new Promise((r) => setTimeout(r, 200));
    expect(c.get('found')).toBeUndefined();
  });
});
