// make bench: the heap that N worker-cache entries take (90-character URLs, a typical
// marketing link), measured with a full GC before and after. Prints {"entries","mib"}.
// Run with --expose-gc; needs npm run build.
const { LocalLinkCache } = require('../../dist/service/src/links/local-cache.js');

const n = Number(process.argv[2] || 100000);
global.gc();
const before = process.memoryUsage().heapUsed;
const cache = new LocalLinkCache({ maxEntries: n, maxMiB: 4096, ttlMs: 600000, missingTtlMs: 5000 });
for (let i = 0; i < n; i++) {
  const slug = `a${i.toString(36).padStart(6, '0')}`;
  const url = `https://www.example-shop.com/products/category-${i % 97}/item-${i}?utm_source=newsletter&utm_campaign=c${i % 13}`;
  cache.fill(slug, { url: url.slice(0, 90), expiresAtMs: null }, cache.version);
}
global.gc();
const after = process.memoryUsage().heapUsed;
process.stdout.write(
  `${JSON.stringify({ entries: cache.size, mib: Math.round(((after - before) / 1048576) * 10) / 10 })}\n`,
);
