import http from 'node:http';
import { createLink, freePort, uniqueSlug, waitFor } from '../../../test-support/service';
import { pm2Cluster } from '../../../test-support/pm2';

/**
 * One scrape on a connection of its own. (A keep-alive connection that a
 * SIGKILLed worker held is not reset under PM2's cluster: a request on it hangs
 * until the client's timeout — Prometheus loses one scrape, then reconnects.)
 */
function scrape(url: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false, timeout: 3_000 }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, text }));
      })
      .on('timeout', function (this: http.ClientRequest) {
        this.destroy(new Error('scrape timed out'));
      })
      .on('error', reject);
  });
}

/** The value of a sample line `name{labels} value` in Prometheus text, or undefined. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('GET /metrics under the PM2 cluster (2 workers)', () => {
  let cluster: Awaited<ReturnType<typeof pm2Cluster>>;
  let metricsUrl: string;
  beforeAll(async () => {
    const port = await freePort();
    metricsUrl = `http://127.0.0.1:${port}/metrics`;
    cluster = await pm2Cluster({ METRICS_PORT: String(port), LOG_LEVEL: 'warn' });
  });
  afterAll(() => cluster.kill());

  it('reports exactly N redirects for the whole pod, whichever worker answers', async () => {
    const slug = uniqueSlug('m');
    await createLink(cluster.base, { url: 'https://example.com/m', slug });
    const before = sample((await scrape(metricsUrl)).text, 'boltlink_redirects_total') ?? 0;
    const N = 200;
    // New connection per request: the cluster spreads them over both workers.
    for (let i = 0; i < N; i++)
      await fetch(`${cluster.base}/${slug}`, { redirect: 'manual', headers: { connection: 'close' } });
    for (let n = 0; n < 6; n++) {
      const { text } = await scrape(metricsUrl);
      expect(sample(text, 'boltlink_redirects_total')).toBe(before + N);
      expect(sample(text, 'http_request_duration_seconds_count', '{method="GET",route="/:slug",status="302"}')).toBe(
        before + N,
      );
      expect(sample(text, 'boltlink_sizing_workers')).toBe(2);
      expect(text).toMatch(/boltlink_worker_start_time_seconds\{worker="0"\}/);
      expect(text).toMatch(/boltlink_worker_start_time_seconds\{worker="1"\}/);
      // One series per worker for what PM2 and the alerts judge each worker by.
      for (const worker of ['0', '1']) {
        expect(sample(text, 'boltlink_worker_ready', `{worker="${worker}"}`)).toBe(1);
        expect(sample(text, 'boltlink_worker_resident_memory_bytes', `{worker="${worker}"}`)).toBeGreaterThan(
          20 * 1024 * 1024,
        );
        expect(sample(text, 'boltlink_worker_heap_used_bytes', `{worker="${worker}"}`)).toBeGreaterThan(1024 * 1024);
      }
      expect(text).toContain('boltlink_db_pool_connections{state="idle"}');
      expect(text).toContain('nodejs_eventloop_lag_seconds');
    }
  });

  it('is not served on the public port', async () => {
    expect((await fetch(`${cluster.base}/metrics`)).status).toBe(404);
  });

  it('answers with what it has and counts the miss when a worker hangs', async () => {
    const [frozen] = await cluster.online();
    process.kill(frozen!.pid, 'SIGSTOP');
    try {
      // The cluster may hand a scrape to the frozen worker itself; retry until the other one answers.
      let answered: { status: number; text: string } | undefined;
      for (let i = 0; i < 10 && !answered; i++) answered = await scrape(metricsUrl).catch(() => undefined);
      expect(answered?.status).toBe(200);
      expect(sample(answered!.text, 'boltlink_metrics_aggregation_misses_total')).toBeGreaterThanOrEqual(1);
    } finally {
      process.kill(frozen!.pid, 'SIGCONT');
    }
    expect((await scrape(metricsUrl)).status).toBe(200);
  });

  it('keeps answering while a worker is killed and restarted', async () => {
    const [victim] = await cluster.online();
    process.kill(victim!.pid, 'SIGKILL');
    // Give the cluster master a moment to see the exit, as the next Prometheus scrape would.
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    const res = await scrape(metricsUrl);
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(res.text).toContain('boltlink_redirects_total');
    await waitFor(
      async () => (await cluster.online()).length === 2 && !(await cluster.online()).some((w) => w.pid === victim!.pid),
      15_000,
      200,
    );
    expect((await scrape(metricsUrl)).status).toBe(200);
  });
});
