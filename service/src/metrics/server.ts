import http from 'node:http';
import { once } from 'node:events';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { listening } from '../listening';
import type { Logger } from '../logger';
import type { Metrics } from './registry';

type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

export interface MetricsServerOptions {
  /** The pod's metrics port (shared by all workers under PM2 cluster mode). */
  readonly port: number;
  /** This worker's PM2 instance number (NODE_APP_INSTANCE), 0 outside PM2. */
  readonly workerIndex: number;
  readonly timeoutMs: number;
  /** Where the workers' sockets live. @default <tmpdir>/boltlink-metrics-<port> */
  readonly socketDir?: string;
}

/**
 * /metrics for the whole pod. PM2's cluster master is its daemon, so
 * prom-client's cluster AggregatorRegistry cannot run there. Instead every
 * worker also serves its registry as JSON on a Unix socket of its own, named
 * by its pid in a folder named by the pod's metrics port, and whichever
 * worker takes the scrape asks every socket there, waits at most
 * `timeoutMs`, and merges the answers with AggregatorRegistry.aggregate.
 *
 * Why pids and not a port per instance number: when PM2 replaces a worker
 * (reload, max_memory_restart), the new one starts while the old one still
 * drains, and both can carry the same instance number, so a port per number
 * was still taken (EADDRINUSE, a crash-looping reload). A pid is unique among
 * live processes. A socket nobody listens on (a SIGKILLed worker's) refuses
 * the connection and is removed once its pid is gone; one that does not answer in time is counted
 * in boltlink_metrics_aggregation_misses_total.
 */
export async function startMetricsServer(metrics: Metrics, opts: MetricsServerOptions, log: Logger) {
  const dir = opts.socketDir ?? path.join(os.tmpdir(), `boltlink-metrics-${opts.port}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const mine = path.join(dir, `${process.pid}.sock`);
  // A file with this pid's name can only be left by a dead process that had the same pid.
  rmSync(mine, { force: true });
  const own = http.createServer(async (_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(await metrics.registry.getMetricsAsJSON()));
  });
  own.listen({ path: mine, exclusive: true });
  await once(own, 'listening');

  const pod = http.createServer(async (req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    const peers = readdirSync(dir)
      .filter((f) => f.endsWith('.sock'))
      .map((f) => path.join(dir, f))
      .filter((f) => f !== mine);
    const answers = await Promise.all(peers.map((socket) => fetchPeer(socket, opts.timeoutMs)));
    const misses = answers.filter((a) => a === 'timeout').length;
    if (misses > 0) metrics.aggregationMisses.inc(misses);
    const own = (await metrics.registry.getMetricsAsJSON()) as MetricsJson;
    const merged = AggregatorRegistry.aggregate([own, ...answers.filter((a): a is MetricsJson => Array.isArray(a))]);
    res.setHeader('content-type', merged.contentType);
    res.end(await merged.metrics());
  });
  pod.listen(opts.port);
  await listening(pod, 'METRICS_PORT', opts.port).catch(async (err: unknown) => {
    await new Promise((r) => own.close(r));
    throw err;
  });
  log.debug({ port: opts.port, worker: opts.workerIndex, socket: mine }, 'metrics listening');
  return {
    async close() {
      // Closing a listening Unix socket server removes its file.
      await Promise.all([own, pod].map((s) => new Promise((r) => s.close(r))));
    },
  };
}

function fetchPeer(socketPath: string, timeoutMs: number): Promise<MetricsJson | 'absent' | 'timeout'> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path: '/', timeout: timeoutMs, agent: false }, (res) => {
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
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ECONNREFUSED' && err.code !== 'ENOENT') {
        resolve('timeout');
        return;
      }
      if (!alive(Number(path.basename(socketPath, '.sock')))) rmSync(socketPath, { force: true });
      resolve('absent');
    });
  });
}

/** Whether a process with this pid exists (EPERM: it does, as another user). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
