import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nodeHeapArgs, sizingFor } from '../../common/sizing';
import { METRICS } from '../../common/metrics';
import { freePort, ROOT, stopProcess } from '../../test-support/service';

/** A server under test: its process (pinned to core 0), its URL, and its pod's /metrics when it has one. */
export interface Server {
  readonly proc: ChildProcess;
  readonly url: string;
  readonly metricsUrl?: string;
}

export type ServerName = 'raw' | 'bare' | 'pm2' | 'pm2RedisOnly' | 'plain' | 'pm2Express' | 'pm2Cold';

const CLOCK_TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));

async function startServer(args: string[], env: NodeJS.ProcessEnv, readyPath: string): Promise<Server> {
  const port = await freePort();
  const proc = spawn('taskset', ['-c', '0', process.execPath, ...args], {
    cwd: ROOT,
    env: { ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const metricsUrl = env.METRICS_PORT ? `http://127.0.0.1:${env.METRICS_PORT}/metrics` : undefined;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await fetch(`${url}${readyPath}`, { redirect: 'manual' }).catch(() => null);
    if (res && res.status < 500) return { proc, url, metricsUrl };
    if (proc.exitCode !== null || Date.now() > deadline) {
      await stopProcess(proc);
      throw new Error(`server ${args.join(' ')} did not start`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const stopServer = (s: Server) => stopProcess(s.proc);

/** User + system CPU time of `root` and every process below it (pm2-runtime and its worker), ms. */
export function treeCpuMs(root: number): number {
  const procs = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .flatMap((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return [{ pid: Number(pid), ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) }];
      } catch {
        return [];
      }
    });
  const inTree = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of procs) {
      if (!inTree.has(p.pid) && inTree.has(p.ppid)) {
        inTree.add(p.pid);
        grew = true;
      }
    }
  }
  const ticks = procs.filter((p) => inTree.has(p.pid)).reduce((n, p) => n + p.ticks, 0);
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}

export interface ServiceSetup {
  readonly dbUrl: string;
  /** The Redis every BoltLink server shares. */
  readonly redisUrl: string;
  /** The cold long-tail server's own Redis, emptied before each of its runs. */
  readonly coldRedisUrl: string;
  readonly keyPrefix: string;
  readonly token: string;
  /** PM2 homes made for the servers, for removal. */
  readonly pm2Homes: string[];
}

/** How to start each server the cases name. */
export function serverStarters(o: ServiceSetup): Record<ServerName, () => Promise<Server>> {
  const bench = sizingFor('bench');
  const serviceEnv = async (extra: Record<string, string> = {}) => ({
    ...process.env,
    NODE_ENV: 'production',
    DATABASE_URL: o.dbUrl,
    REDIS_URL: o.redisUrl,
    REDIS_KEY_PREFIX: o.keyPrefix,
    API_TOKENS: o.token,
    PUBLIC_BASE_URL: 'https://sho.rt',
    LOG_LEVEL: 'info',
    // Access logs off while measuring: at tens of thousands of requests a second they are
    // the ingress's job; ACCESS_LOG_SAMPLE_RATE turns them back on per environment.
    ACCESS_LOG_SAMPLE_RATE: '0',
    // The pod's metrics server, as deployed: the long-tail cases read each tier's hits from it.
    METRICS_PORT: String(await freePort()),
    DB_POOL_SIZE: String(bench.dbPoolPerWorker),
    // The write-path case measures the write path, not the per-client limiter (one client sends every create).
    RATE_LIMIT_CREATES: '0',
    ...extra,
  });
  const pm2Env = async (extra: Record<string, string> = {}) => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'bench-pm2-'));
    o.pm2Homes.push(home);
    return serviceEnv({
      BOLTLINK_SIZING: 'bench',
      PM2_INSTANCES: String(bench.pm2Instances),
      PM2_HOME: home,
      ...extra,
    });
  };
  const pm2 = ['node_modules/pm2/bin/pm2-runtime', 'service/ecosystem.config.js'];
  return {
    raw: () => startServer(['loadtest/bench/raw-http.js'], process.env, '/x'),
    bare: () => startServer(['loadtest/bench/bare-express.js'], process.env, '/x'),
    pm2: async () => startServer(pm2, await pm2Env(), '/ready'),
    // One entry and the Redis case's slugs in turn: every request misses the worker cache.
    pm2RedisOnly: async () => startServer(pm2, await pm2Env({ LOCAL_CACHE_MAX_ENTRIES: '1' }), '/ready'),
    // What the fast path buys: the same worker-cache hit answered by Express's router.
    pm2Express: async () => startServer(pm2, await pm2Env({ FAST_REDIRECTS: 'false' }), '/ready'),
    // The long tail after a Redis restart: a Redis of its own, which the case empties.
    pm2Cold: async () => startServer(pm2, await pm2Env({ REDIS_URL: o.coldRedisUrl }), '/ready'),
    // The same heap flags PM2 gives its worker (ecosystem node_args): (3)/(5) then measures PM2 alone.
    plain: async () =>
      startServer(
        [...nodeHeapArgs(bench), 'dist/service/src/main.js'],
        await serviceEnv({ LOCAL_CACHE_MAX_MIB: String(bench.localCacheMiBPerWorker) }),
        '/ready',
      ),
  };
}

/** A server's pod metrics as `name{labels}` → value, for the series the bench reads. */
export async function scrape(server: Server): Promise<Map<string, number>> {
  const text = await (await fetch(server.metricsUrl!)).text();
  const wanted: string[] = [METRICS.cacheLookups.name, METRICS.localCacheEntries.name];
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && wanted.includes(m[1]!)) out.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return out;
}
