import http from 'node:http';
import { once } from 'node:events';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { Logger } from '../logger';
import type { Metrics } from './registry';

type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

export interface MetricsServerOptions {
  /** The pod's metrics port (shared by all workers under PM2 cluster mode). */
  readonly port: number;
  /** This worker's PM2 instance number (NODE_APP_INSTANCE), 0 outside PM2. */
  readonly workerIndex: number;
  /** Workers per pod; PM2 numbers workers 0..2n-1 while a reload overlaps old and new. */
  readonly workers: number;
  readonly timeoutMs: number;
}

/**
 * /metrics for the whole pod. PM2's cluster master is its daemon, so
 * prom-client's cluster AggregatorRegistry cannot run there. Instead every
 * worker also serves its registry as JSON on a loopback port of its own
 * (port + 1 + instance number, `exclusive` so cluster mode does not share it),
 * and whichever worker takes the scrape asks all of them, waits at most
 * `timeoutMs`, and merges the answers with AggregatorRegistry.aggregate. A
 * worker that is gone (connection refused) is skipped; one that does not
 * answer in time is counted in boltlink_metrics_aggregation_misses_total.
 */
export async function startMetricsServer(metrics: Metrics, opts: MetricsServerOptions, log: Logger) {
  const own = http.createServer(async (_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(await metrics.registry.getMetricsAsJSON()));
  });
  own.listen({ port: opts.port + 1 + opts.workerIndex, host: '127.0.0.1', exclusive: true });
  await once(own, 'listening');

  const pod = http.createServer(async (req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    const peers = Array.from({ length: opts.workers * 2 }, (_, i) => i).filter((i) => i !== opts.workerIndex);
    const answers = await Promise.all(peers.map((i) => fetchPeer(opts.port + 1 + i, opts.timeoutMs)));
    const misses = answers.filter((a) => a === 'timeout').length;
    if (misses > 0) metrics.aggregationMisses.inc(misses);
    const mine = (await metrics.registry.getMetricsAsJSON()) as MetricsJson;
    const merged = AggregatorRegistry.aggregate([mine, ...answers.filter((a): a is MetricsJson => Array.isArray(a))]);
    res.setHeader('content-type', merged.contentType);
    res.end(await merged.metrics());
  });
  pod.listen(opts.port);
  await once(pod, 'listening');
  log.debug({ port: opts.port, worker: opts.workerIndex }, 'metrics listening');
  return {
    async close() {
      await Promise.all([own, pod].map((s) => new Promise((r) => s.close(r))));
    },
  };
}

function fetchPeer(port: number, timeoutMs: number): Promise<MetricsJson | 'absent' | 'timeout'> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', timeout: timeoutMs, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body) as MetricsJson);
        } catch {
          resolve('timeout');
        }
      });
    });
    req.on('timeout', () => {
      req.destroy();
      resolve('timeout');
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED' ? 'absent' : 'timeout'));
  });
}
