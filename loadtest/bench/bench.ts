import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type autocannon from 'autocannon';
import { Client } from 'pg';
import { sizingFor } from '../../common/sizing';
import { migrate } from '../../service/src/db/migrate';
import { GUIDE_REQ_PER_SEC_PER_CORE } from '../guide';
import { run, type LoadResult } from '../runner';

/**
 * `make bench`: the cases of CASES side by side in one run on this machine,
 * in order. Servers run on core 0 (`taskset -c 0`), this process — the load
 * generator — on core 1 (the Makefile starts it with `taskset -c 1`). Every
 * case: keep-alive connections, a warm-up that is discarded, then a measured
 * run bounded in time and requests, during which the server's CPU time (its
 * whole process tree, from /proc) is read: CPU µs per request is steadier
 * than req/s on a noisy machine. Needs `npm run build`, PostgreSQL at
 * DATABASE_URL (a scratch database is created and dropped) and `redis-server`
 * on the PATH (a private one runs on core 1 for the run).
 */

const ROOT = path.resolve(__dirname, '../..');
const RESULTS = path.join(__dirname, '../results');
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP_SECONDS = 2;
const MAX_REQUESTS = 3_000_000;
const UNCACHED_LINKS = 200_000;
/** Slugs the Redis-cache case rotates over, so that a worker cache of one entry always misses. */
const REDIS_CASE_LINKS = 1_000;
const TOKEN = `bench-${randomBytes(12).toString('hex')}`;
const CLOCK_TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
/** BENCH_CASES=bareExpress,cachedLocal runs only those (for a quick A/B while working); the results are not kept. */
const ONLY = process.env.BENCH_CASES?.split(',').filter(Boolean);

type ServerName = 'raw' | 'bare' | 'pm2' | 'pm2RedisOnly' | 'plain' | 'pm2Express';

interface Case {
  readonly key: string;
  readonly title: string;
  readonly server: ServerName;
  /** The requests of one run (made fresh for the warm-up and the measured run) and the status they expect. */
  readonly requests: () => autocannon.Request[];
  readonly expect: number;
}

let nextUncached = 0;
let nextRedis = 0;
const get = (path: string): autocannon.Request => ({ method: 'GET', path });
const CASES: readonly Case[] = [
  { key: 'rawHttp', title: '1 raw node:http 302', server: 'raw', requests: () => [get('/x')], expect: 302 },
  { key: 'bareExpress', title: '2 bare Express 5 302', server: 'bare', requests: () => [get('/x')], expect: 302 },
  {
    key: 'cachedLocal',
    title: '3 BoltLink redirect, worker cache, 1 PM2 worker',
    server: 'pm2',
    requests: () => [get('/bench-cached')],
    expect: 302,
  },
  {
    key: 'create',
    title: '6 BoltLink POST /api/links (PostgreSQL write)',
    server: 'pm2',
    requests: () => [
      {
        method: 'POST',
        path: '/api/links',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        setupRequest: (req) => ({
          ...req,
          body: JSON.stringify({ url: `https://example.com/c/${randomBytes(6).toString('hex')}` }),
        }),
      },
    ],
    expect: 201,
  },
  {
    key: 'uncached',
    title: '7 BoltLink redirect, PostgreSQL read',
    server: 'pm2',
    requests: () => [
      { method: 'GET', setupRequest: (req) => ({ ...req, path: `/u${(nextUncached++ % UNCACHED_LINKS) + 1}` }) },
    ],
    expect: 302,
  },
  {
    key: 'cachedRedis',
    title: '4 BoltLink redirect, Redis cache (worker cache off)',
    server: 'pm2RedisOnly',
    requests: () => [
      { method: 'GET', setupRequest: (req) => ({ ...req, path: `/rc-${(nextRedis++ % REDIS_CASE_LINKS) + 1}` }) },
    ],
    expect: 302,
  },
  {
    key: 'cachedPlain',
    title: '5 BoltLink redirect, worker cache, plain node',
    server: 'plain',
    requests: () => [get('/bench-cached')],
    expect: 302,
  },
  {
    key: 'cachedExpress',
    title: '8 BoltLink redirect, worker cache, fast path off',
    server: 'pm2Express',
    requests: () => [get('/bench-cached')],
    expect: 302,
  },
];

interface Server {
  readonly proc: ChildProcess;
  readonly url: string;
}

async function freePort(): Promise<number> {
  const srv = net.createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = net.connect(port, '127.0.0.1', () => {
        sock.destroy();
        resolve(true);
      });
      sock.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on port ${port}`);
}

async function startServer(args: string[], env: NodeJS.ProcessEnv, readyPath: string): Promise<Server> {
  const port = await freePort();
  const proc = spawn('taskset', ['-c', '0', process.execPath, ...args], {
    cwd: ROOT,
    env: { ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await fetch(`${url}${readyPath}`, { redirect: 'manual' }).catch(() => null);
    if (res && res.status < 500) return { proc, url };
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`server ${args.join(' ')} did not start`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stop(s: Server): Promise<void> {
  // A process killed by a signal has signalCode set and exitCode null.
  if (s.proc.exitCode !== null || s.proc.signalCode !== null) return;
  const exited = once(s.proc, 'exit');
  s.proc.kill('SIGTERM');
  await exited;
}

/** User + system CPU time of `root` and every process below it (pm2-runtime and its worker), ms. */
function treeCpuMs(root: number): number {
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

interface Measured extends LoadResult {
  /** Server CPU time per request served in the measured window, µs. */
  readonly cpuMicrosPerRequest: number;
}

async function measure(c: Case, server: Server, seconds = SECONDS, quiet = false): Promise<Measured> {
  const base = { url: server.url, connections: CONNECTIONS, maxRequests: MAX_REQUESTS };
  if (!quiet) {
    await run({ ...base, title: `${c.title} (warm-up)`, durationSeconds: WARMUP_SECONDS, requests: c.requests() });
  }
  let failures = 0;
  const requests = c.requests().map((r) => ({
    ...r,
    onResponse: (status: number) => void (status !== c.expect && failures++),
  }));
  const cpuBefore = treeCpuMs(server.proc.pid!);
  const measured = await run({ ...base, title: c.title, durationSeconds: seconds, requests });
  const cpuMs = treeCpuMs(server.proc.pid!) - cpuBefore;
  const r: Measured = {
    ...measured,
    errors: { ...measured.errors, unexpectedStatus: failures },
    cpuMicrosPerRequest: Math.round((cpuMs * 1000 * 10) / Math.max(1, measured.requests.total)) / 10,
  };
  const failed = r.errors.socket + r.errors.timeouts + r.errors.unexpectedStatus;
  if (quiet) return r;
  process.stdout.write(
    `  ${c.title.padEnd(54)} ${String(r.requests.perSecond).padStart(7)} req/s  ${String(r.cpuMicrosPerRequest).padStart(6)} µs CPU/req  p50 ${r.latencyMs.p50} ms  p99 ${r.latencyMs.p99} ms  failures ${failed}\n`,
  );
  return r;
}

/**
 * The cases of the alternating rounds: the platform's and the framework's
 * ceilings, and BoltLink's worker-cache redirect under PM2 and in plain node.
 */
const ROUND_CASES = ['rawHttp', 'bareExpress', 'cachedLocal', 'cachedPlain'] as const;
type RoundCase = (typeof ROUND_CASES)[number];
/**
 * The order of ROUND_CASES in each round, a Williams Latin square: over four
 * rounds each case runs once in each position and follows each other case
 * once, so a drift of the machine's speed favours none.
 */
const ROUND_ORDERS = [
  [0, 1, 3, 2],
  [1, 2, 0, 3],
  [2, 3, 1, 0],
  [3, 0, 2, 1],
] as const;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4 * ROUND_ORDERS.length);
const ROUND_SECONDS = 2;
const ROUND_WARMUP_SECONDS = 8;

type Round = Record<RoundCase, Measured>;

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** The median over the rounds of `of(a) ÷ of(b)`, each round's runs back to back. */
const ratio = (rounds: readonly Round[], a: RoundCase, b: RoundCase, of: (m: Measured) => number) =>
  median(rounds.map((r) => of(r[a]) / of(r[b])));
const reqPerSec = (m: Measured) => m.requests.perSecond;
const cpuPerRequest = (m: Measured) => m.cpuMicrosPerRequest;

/**
 * The ROUND_CASES in short alternating runs with all their servers up. On
 * this project's virtual machines the speed of a core drifts by ±30 % over
 * seconds, so one long run each compares different machines; the median of
 * back-to-back ratios compares the code.
 */
async function alternatingRounds(servers: Record<RoundCase, Server>): Promise<Round[]> {
  const cases = ROUND_CASES.map((key) => CASES.find((c) => c.key === key)!);
  // Every server is fresh: one discarded run each first, so the rounds compare optimised
  // code (without it the first rounds measured BoltLink's JIT warm-up: 486 µs, then 225 µs by round 6).
  for (const c of cases) await measure(c, servers[c.key as RoundCase], ROUND_WARMUP_SECONDS, true);
  const rounds: Round[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const round: Partial<Round> = {};
    for (const index of ROUND_ORDERS[i % ROUND_ORDERS.length]!) {
      const key = ROUND_CASES[index]!;
      round[key] = await measure(cases[index]!, servers[key], ROUND_SECONDS, true);
    }
    rounds.push(round as Round);
  }
  return rounds;
}

/** Heap of 100,000 worker-cache entries with 90-character URLs, measured in a child with --expose-gc, MiB. */
function localCacheMiBPer100k(): number {
  const out = execFileSync(process.execPath, ['--expose-gc', path.join(__dirname, 'cache-memory.js'), '100000'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return Number(JSON.parse(out).mib);
}

/** A scratch database with the service's schema: the cached link, UNCACHED_LINKS for the read path, REDIS_CASE_LINKS. */
async function scratchDatabase(admin: string): Promise<{ url: string; drop(): Promise<void> }> {
  const dbName = `boltlink_bench_${randomBytes(4).toString('hex')}`;
  const adminClient = new Client({ connectionString: admin });
  await adminClient.connect();
  await adminClient.query(`CREATE DATABASE ${dbName}`);
  const dbUrl = new URL(admin);
  dbUrl.pathname = `/${dbName}`;
  const drop = async () => {
    await adminClient.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await adminClient.end();
  };
  try {
    await migrate(dbUrl.toString());
    const seed = new Client({ connectionString: dbUrl.toString() });
    await seed.connect();
    await seed.query("INSERT INTO links (slug, url) VALUES ('bench-cached', 'https://example.com/target')");
    await seed.query(
      `INSERT INTO links (slug, url) SELECT 'u' || g, 'https://example.com/u/' || g FROM generate_series(1, ${UNCACHED_LINKS}) AS g`,
    );
    await seed.query(
      `INSERT INTO links (slug, url) SELECT 'rc-' || g, 'https://example.com/r/' || g FROM generate_series(1, ${REDIS_CASE_LINKS}) AS g`,
    );
    await seed.end();
  } catch (err) {
    await drop();
    throw err;
  }
  return { url: dbUrl.toString(), drop };
}

/**
 * A private Redis on the load generator's core: like a Redis on another host, it never
 * takes CPU from the server under test.
 */
async function privateRedis(): Promise<Server> {
  const redisPort = await freePort();
  const redis = spawn(
    'taskset',
    ['-c', '1', 'redis-server', '--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const server = { proc: redis, url: `redis://127.0.0.1:${redisPort}` };
  await waitForPort(redisPort).catch(async (err: unknown) => {
    await stop(server);
    throw err;
  });
  return server;
}

/** How to start each server the cases name; a PM2 server's home is added to `pm2Homes` for removal. */
function serverStarters(
  dbUrl: string,
  redisUrl: string,
  pm2Homes: string[],
): Record<ServerName, () => Promise<Server>> {
  const bench = sizingFor('bench');
  const serviceEnv = {
    ...process.env,
    NODE_ENV: 'production',
    DATABASE_URL: dbUrl,
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: `bench:${randomBytes(4).toString('hex')}:`,
    API_TOKENS: TOKEN,
    PUBLIC_BASE_URL: 'https://sho.rt',
    LOG_LEVEL: 'info',
    // Access logs off while measuring: at tens of thousands of requests a second they are
    // the ingress's job; ACCESS_LOG_SAMPLE_RATE turns them back on per environment.
    ACCESS_LOG_SAMPLE_RATE: '0',
    // The metrics middleware still runs (its cost is measured); only the scrape server is off.
    METRICS_PORT: '0',
    DB_POOL_SIZE: String(bench.dbPoolPerWorker),
    // The write-path case measures the write path, not the per-client limiter (one client sends every create).
    RATE_LIMIT_CREATES: '0',
  };
  const pm2Env = (extra: Record<string, string> = {}) => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'bench-pm2-'));
    pm2Homes.push(home);
    return {
      ...serviceEnv,
      BOLTLINK_SIZING: 'bench',
      PM2_INSTANCES: String(bench.pm2Instances),
      PM2_HOME: home,
      ...extra,
    };
  };
  const pm2 = ['node_modules/pm2/bin/pm2-runtime', 'service/ecosystem.config.js'];
  return {
    raw: () => startServer(['loadtest/bench/raw-http.js'], process.env, '/x'),
    bare: () => startServer(['loadtest/bench/bare-express.js'], process.env, '/x'),
    pm2: () => startServer(pm2, pm2Env(), '/ready'),
    // One entry and REDIS_CASE_LINKS slugs in turn: every request misses the worker cache.
    pm2RedisOnly: () => startServer(pm2, pm2Env({ LOCAL_CACHE_MAX_ENTRIES: '1' }), '/ready'),
    // What the fast path buys: the same worker-cache hit answered by Express's router.
    pm2Express: () => startServer(pm2, pm2Env({ FAST_REDIRECTS: 'false' }), '/ready'),
    // The same heap limit PM2 gives its worker (ecosystem node_args): (3)/(5) then measures PM2 alone.
    plain: () =>
      startServer(
        [`--max-old-space-size=${bench.heapMiBPerWorker}`, 'dist/service/src/main.js'],
        { ...serviceEnv, LOCAL_CACHE_MAX_MIB: String(bench.localCacheMiBPerWorker) },
        '/ready',
      ),
  };
}

/** Each case (BENCH_CASES, or all) on its server, one server up at a time; started servers join `running`. */
async function runCases(servers: Record<ServerName, () => Promise<Server>>, running: Server[]) {
  const results: Record<string, Measured> = {};
  let current: { name: ServerName; server: Server } | undefined;
  for (const c of CASES.filter((k) => !ONLY || ONLY.includes(k.key))) {
    if (current?.name !== c.server) {
      if (current) await stop(current.server);
      current = { name: c.server, server: await servers[c.server]() };
      running.push(current.server);
    }
    results[c.key] = await measure(c, current.server);
    if (c.key === 'uncached') {
      process.stdout.write(
        `    (${nextUncached} slugs requested in order over ${UNCACHED_LINKS} links: each read misses both caches unless it wrapped)\n`,
      );
    }
  }
  if (current) await stop(current.server);
  return results;
}

/** The alternating rounds with their four servers up, each round printed. */
async function runRounds(starters: Record<ServerName, () => Promise<Server>>, running: Server[]): Promise<Round[]> {
  const servers: Record<RoundCase, Server> = {
    rawHttp: await starters.raw(),
    bareExpress: await starters.bare(),
    cachedLocal: await starters.pm2(),
    cachedPlain: await starters.plain(),
  };
  running.push(...Object.values(servers));
  process.stdout.write(
    `\n  ${ROUND_CASES.join(', ')}: ${ROUNDS} alternating rounds of ${ROUND_SECONDS} s (req/s, µs CPU/req, p99 ms):\n`,
  );
  const rounds = await alternatingRounds(servers);
  for (const [i, round] of rounds.entries()) {
    const cells = ROUND_CASES.map((k) => {
      const m = round[k];
      return `${k} ${m.requests.perSecond} ${m.cpuMicrosPerRequest} ${m.latencyMs.p99}`;
    });
    process.stdout.write(`    round ${i + 1}: ${cells.join(' | ')}\n`);
  }
  await Promise.all(Object.values(servers).map(stop));
  return rounds;
}

interface Goal {
  readonly value: number;
  readonly goal: number;
  readonly atLeast: boolean;
}

/** The goals, each from ratios measured side by side in this run; printed met or MISSED. */
function goalsOf(rounds: readonly Round[], results: Record<string, Measured>): Record<string, Goal> {
  const r = (k: string) => results[k]!;
  const goals = {
    workerCacheOverBareExpress: {
      value: ratio(rounds, 'cachedLocal', 'bareExpress', reqPerSec),
      goal: 3,
      atLeast: true,
    },
    workerCacheOverRawHttp: { value: ratio(rounds, 'cachedLocal', 'rawHttp', reqPerSec), goal: 0.5, atLeast: true },
    cpuPerRedirectOverRawHttp: {
      value: ratio(rounds, 'cachedLocal', 'rawHttp', cpuPerRequest),
      goal: 2,
      atLeast: false,
    },
    workerCacheP99Ms: { value: median(rounds.map((r) => r.cachedLocal.latencyMs.p99)), goal: 10, atLeast: false },
    pm2OverPlainNode: { value: ratio(rounds, 'cachedLocal', 'cachedPlain', reqPerSec), goal: 0.95, atLeast: true },
    workerCacheOverGuidePerCore: {
      value: r('cachedLocal').requests.perSecond / GUIDE_REQ_PER_SEC_PER_CORE,
      goal: 10,
      atLeast: true,
    },
    workerCacheOverRedisCache: {
      value: r('cachedLocal').cpuMicrosPerRequest / r('cachedRedis').cpuMicrosPerRequest,
      goal: 1,
      atLeast: false,
    },
  };
  process.stdout.write('\ngoals (measured side by side in this run; the first five from the alternating rounds)\n');
  for (const [name, g] of Object.entries(goals)) {
    const met = g.atLeast ? g.value >= g.goal : g.value <= g.goal;
    process.stdout.write(
      `  ${name.padEnd(32)} ${g.value.toFixed(2).padStart(6)}  goal ${g.atLeast ? '≥' : '≤'} ${g.goal}  ${met ? 'met' : 'MISSED'}\n`,
    );
  }
  return goals;
}

/** loadtest/results/bench-<time>.json and bench-latest.json (what make plan reads). */
function writeResults(
  rounds: readonly Round[],
  results: Record<string, Measured>,
  goals: Record<string, Goal>,
  cacheMiB: number,
): void {
  const out = {
    measuredAt: new Date().toISOString(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
    connections: CONNECTIONS,
    seconds: SECONDS,
    perWorkerReqPerSec: results.cachedLocal!.requests.perSecond,
    localCacheMiBPer100kEntries: cacheMiB,
    goals,
    rounds,
    results,
  };
  mkdirSync(RESULTS, { recursive: true });
  const file = path.join(RESULTS, `bench-${out.measuredAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  copyFileSync(file, path.join(RESULTS, 'bench-latest.json'));
  process.stdout.write(`\nwrote ${path.relative(ROOT, file)} (and bench-latest.json, which make plan reads)\n`);
}

async function main(): Promise<void> {
  const db = await scratchDatabase(process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres');
  const running: Server[] = [];
  const pm2Homes: string[] = [];
  try {
    const redis = await privateRedis();
    running.push(redis);
    const starters = serverStarters(db.url, redis.url, pm2Homes);
    process.stdout.write(
      `make bench: servers on core 0, load on core 1, ${CONNECTIONS} keep-alive connections, ${WARMUP_SECONDS} s warm-up + ${SECONDS} s per case\n`,
    );
    const results = await runCases(starters, running);
    if (ONLY) return;
    const rounds = await runRounds(starters, running);
    const cacheMiB = localCacheMiBPer100k();
    process.stdout.write(`  local cache memory: ${cacheMiB} MiB of heap per 100,000 entries (90-character URLs)\n`);
    writeResults(rounds, results, goalsOf(rounds, results), cacheMiB);
  } finally {
    await Promise.all(running.map(stop));
    pm2Homes.forEach((h) => rmSync(h, { recursive: true, force: true }));
    await db.drop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
