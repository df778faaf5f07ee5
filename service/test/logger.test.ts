import path from 'node:path';
import { freePort, ROOT, spawnServing, testEnv, TOKEN, uniqueSlug } from '../../test-support/service';
import { stopProcess } from '../../test-support/service';

describe('logs', () => {
  it('are JSON lines with request id, route, status and duration, and never carry a token', async () => {
    const port = await freePort();
    const leaked = 'leaky-guess-token-0123456789';
    const svc = await spawnServing(
      [path.join(ROOT, 'dist/service/src/main.js')],
      { ...process.env, ...testEnv({ PORT: String(port), LOG_LEVEL: 'debug', ACCESS_LOG_SAMPLE_RATE: '1' }) },
      port,
    );
    const slug = uniqueSlug('log');
    await fetch(`${svc.base}/api/links`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'x-request-id': 'trace-abc' },
      body: JSON.stringify({ url: 'https://example.com/log', slug }),
    });
    await fetch(`${svc.base}/api/links`, {
      method: 'POST',
      headers: { authorization: `Bearer ${leaked}`, 'content-type': 'application/json' },
      body: '{}',
    });
    await fetch(`${svc.base}/api/links/${slug}?token=${leaked}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${leaked}` },
    });
    await fetch(`${svc.base}/${slug}`, { redirect: 'manual' });
    await stopProcess(svc.proc);

    const lines = svc
      .output()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const created = lines.find((l) => l.reqId === 'trace-abc');
    expect(created).toMatchObject({ msg: 'request', method: 'POST', route: '/api/links', status: 201 });
    expect(typeof created!.durationMs).toBe('number');
    expect(lines.filter((l) => l.msg === 'request').map((l) => l.status)).toEqual(
      expect.arrayContaining([201, 401, 302]),
    );
    expect(svc.output()).not.toContain(TOKEN);
    expect(svc.output()).not.toContain(leaked);
  });
});
