import { once } from 'node:events';
import http from 'node:http';
import autocannon from 'autocannon';
import { sizingFor } from '../../../common/sizing';
import { DEFAULT_METRICS_PORT, PM2_APP_NAME } from '../../../common/contract';
import { createLink, json, sql, stopProcess, uniqueSlug, waitFor } from '../../../test-support/service';
import { cpuTicks, pm2Cluster, pm2RuntimeStarting } from '../../../test-support/pm2';

const local = sizingFor('local');

describe('PM2 cluster (service/ecosystem.config.js)', () => {
  let cluster: Awaited<ReturnType<typeof pm2Cluster>>;
  beforeAll(async () => {
    cluster = await pm2Cluster({ FAULT_INJECTION: 'true', LOG_LEVEL: 'warn' });
  });
  afterAll(() => cluster.kill());

  it('runs exactly the sized number of workers in cluster mode, each with the sized heap', async () => {
    const workers = await cluster.online();
    expect(workers).toHaveLength(local.pm2Instances);
    for (const w of workers) expect(w.pm2_env.exec_mode).toBe('cluster_mode');
    const health = await json(await fetch(`${cluster.base}/health`));
    expect(health.sizing.workers).toBe(local.pm2Instances);
    // heap_size_limit = old space (--max-old-space-size) + young generation, so at least the sized heap.
    expect(health.sizing.heapMiBPerWorker).toBeGreaterThanOrEqual(local.heapMiBPerWorker);
    expect(health.sizing.heapMiBPerWorker).toBeLessThan(local.maxMemoryRestartMiB);
  });

  it('spreads requests over both workers', async () => {
    const workers = await cluster.online();
    const before = workers.map((w) => cpuTicks(w.pid));
    await autocannon({ url: `${cluster.base}/livez`, connections: 8, amount: 4000 });
    const after = workers.map((w) => cpuTicks(w.pid));
    // Each worker burned CPU serving its share (a few ticks is idle noise; 4000 requests is hundreds).
    after.forEach((t, i) => expect(t - before[i]!).toBeGreaterThan(20));
  });

  it('reloads one worker at a time with zero failed requests under keep-alive load', async () => {
    const slug = uniqueSlug('reload');
    await createLink(cluster.base, { url: 'https://example.com/reload', slug });
    const pidsBefore = (await cluster.online()).map((w) => w.pid).sort();
    const restartsBefore = (await cluster.jlist()).reduce((n, w) => n + w.pm2_env.restart_time, 0);
    const load = autocannon({ url: `${cluster.base}/${slug}`, connections: 20, duration: 12, pipelining: 1 });
    await new Promise((r) => setTimeout(r, 3_000));
    await cluster.pm2('reload', PM2_APP_NAME, '--update-env');
    const result = await load;
    const pidsAfter = (await cluster.online()).map((w) => w.pid).sort();
    // PM2 counts a reload as one restart per worker; a replacement that crashed at start (its metrics
    // port still held by the worker it replaced) would be restarted again and count more.
    expect((await cluster.jlist()).reduce((n, w) => n + w.pm2_env.restart_time, 0)).toBe(
      restartsBefore + local.pm2Instances,
    );
    expect((await fetch(`http://127.0.0.1:${DEFAULT_METRICS_PORT}/metrics`)).status).toBe(200);
    expect(pidsAfter).toHaveLength(2);
    expect(pidsAfter.filter((p) => pidsBefore.includes(p))).toEqual([]);
    expect({ errors: result.errors, timeouts: result.timeouts }).toEqual({ errors: 0, timeouts: 0 });
    expect(Object.keys(result.statusCodeStats ?? {})).toEqual(['302']);
    expect(result.requests.total).toBeGreaterThan(1000);
  });
});

/** One GET on a connection of its own (PM2's master hands each new connection to the next worker). */
const freshGet = (port: number, path: string) =>
  new Promise<string>((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 2_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(String(res.statusCode)));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.on('timeout', () => req.destroy(new Error('TIMEOUT')));
  });

describe('a PM2 cluster that has just started', () => {
  // /ready reaches one worker: the pod is Ready while the other may still be starting. A worker that
  // listened before it had connected answered its share 503 "starting" here (7-10 per start).
  it('answers every request as a serving worker from its first /ready 200 on', async () => {
    const slug = uniqueSlug('start');
    await sql('INSERT INTO links (slug, url) VALUES ($1, $2)', [slug, 'https://example.com/start']);
    const rt = await pm2RuntimeStarting({ LOG_LEVEL: 'warn' });
    try {
      await waitFor(async () => (await freshGet(rt.port, '/ready')) === '200', 30_000, 10);
      const answers: Record<string, number> = {};
      const until = Date.now() + 3_000;
      for (let n = 0; n < 20_000 && Date.now() < until; n++) {
        const answer = await freshGet(rt.port, `/${slug}`);
        answers[answer] = (answers[answer] ?? 0) + 1;
      }
      expect(Object.keys(answers)).toEqual(['302']);
      expect(answers['302']).toBeGreaterThan(100);
    } finally {
      await stopProcess(rt.proc);
    }
  });
});

describe('pm2-runtime with a configuration it cannot run with (the guide’s docker run without env)', () => {
  it('shows the error once per worker, restarts none, and exits', async () => {
    const rt = await pm2RuntimeStarting({ API_TOKENS: undefined, NODE_ENV: 'production', PUBLIC_BASE_URL: undefined });
    try {
      const exited = once(rt.proc, 'exit');
      const [code] = (await Promise.race([exited, new Promise((r) => setTimeout(() => r(['timeout']), 40_000))])) as [
        number | string,
      ];
      expect(code).not.toBe('timeout');
      expect(code).not.toBe(0);
      const errors = rt
        .output()
        .split('\n')
        .filter((l) => l.startsWith('Invalid configuration:'));
      expect(errors).toEqual(
        Array(2).fill(
          'Invalid configuration: API_TOKENS: is required; PUBLIC_BASE_URL: is required when NODE_ENV=production',
        ),
      );
    } finally {
      await stopProcess(rt.proc);
    }
  }, 60_000);
});
