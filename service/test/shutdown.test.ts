import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { CONFIG_ERROR_EXIT_CODE } from '../../common/contract';
import {
  freePort,
  json,
  ROOT,
  slowCreate,
  spawnServing,
  sql,
  testEnv,
  TOKEN,
  uniqueSlug,
} from '../../test-support/service';

/** The built service as a real process, so SIGTERM/SIGINT are real signals. */
async function spawnService(env: Record<string, string>) {
  const port = await freePort();
  const fullEnv = { ...process.env, ...testEnv({ PORT: String(port), ...env }) };
  return spawnServing([path.join(ROOT, 'dist/service/src/main.js')], fullEnv, port);
}

describe.each(['SIGTERM', 'SIGINT'] as const)('graceful shutdown on %s', (signal) => {
  it('fails readiness, finishes the in-flight request, flushes clicks and exits 0', async () => {
    const svc = await spawnService({
      SHUTDOWN_DRAIN_MS: '500',
      SHUTDOWN_TIMEOUT_MS: '5000',
      CLICK_FLUSH_INTERVAL_MS: '600000',
      LOG_LEVEL: 'info',
    });
    const clicked = uniqueSlug('sd');
    await fetch(`${svc.base}/api/links`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: 'https://example.com/clicked', slug: clicked }),
    });
    for (let i = 0; i < 3; i++) await fetch(`${svc.base}/${clicked}`, { redirect: 'manual' });

    const slow = uniqueSlug('slow');
    const inFlight = slowCreate(svc.port, slow, 1_200);
    await new Promise((r) => setTimeout(r, 100));
    const signalled = Date.now();
    const exited = once(svc.proc, 'exit');
    svc.proc.kill(signal);

    await new Promise((r) => setTimeout(r, 100));
    const ready = await fetch(`${svc.base}/ready`);
    expect(ready.status).toBe(503);
    expect(ready.headers.get('connection')).toBe('close');
    expect(await json(ready)).toEqual({ ready: false, reason: 'draining' });

    const done = await inFlight;
    expect(done.status).toBe(201);
    const [code] = await exited;
    // On failure, the process's own log says why it did not exit 0.
    expect({ code, log: code === 0 ? '' : svc.output() }).toEqual({ code: 0, log: '' });
    expect(Date.now() - signalled).toBeLessThan(5_000);
    expect(svc.output()).toContain('shutdown complete');
    expect(await sql('SELECT slug FROM links WHERE slug = $1', [slow])).toEqual([{ slug: slow }]);
    expect(await sql('SELECT clicks FROM links WHERE slug = $1', [clicked])).toEqual([{ clicks: '3' }]);
  });
});

describe('start-up with bad configuration', () => {
  it('exits with the configuration error’s code (PM2 does not restart it) naming every bad key', async () => {
    const proc = spawn(process.execPath, [path.join(ROOT, 'dist/service/src/main.js')], {
      env: {
        PATH: process.env.PATH,
        PORT: 'eighty',
        REDIS_URL: 'http://nope',
        API_TOKENS: 'short',
        NODE_ENV: 'production',
        ALLOWED_ORIGINS: '*',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    proc.stderr.on('data', (d) => (stderr += d));
    const [code] = await once(proc, 'exit');
    expect(code).toBe(CONFIG_ERROR_EXIT_CODE);
    for (const key of ['PORT', 'DATABASE_URL', 'REDIS_URL', 'API_TOKENS']) expect(stderr).toContain(`${key}:`);
    expect(stderr.trim().split('\n')).toHaveLength(1);
  });
});
