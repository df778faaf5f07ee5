import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { sizingFor } from '../../common/sizing';
import { CONFIG_FIELDS } from '../../service/src/config';
import { migrate } from '../../service/src/db/migrate';
import { createScratchDatabase, withClient } from '../../test-support/databases';
import { ROOT, startPrivateRedis, waitFor } from '../../test-support/service';
import { simulateWorkerCache, workerCacheOf } from '../cache-sim';
import { GUIDE_REQ_PER_SEC_PER_CORE } from '../guide';
import { fillRedis, seedLinks } from '../seed';
import { describeTraffic, trafficFromFlags } from '../traffic';
import {
  benchCases,
  HOT_SLUG,
  REDIS_CASE_LINKS,
  tierShares,
  UNCACHED_LINKS,
  writeTraces,
  type Case,
  type TierShares,
} from './cases';
import { median, williamsOrders } from './rounds';
import { scrape, serverStarters, stopServer, treeCpuMs, type Server, type ServerName } from './servers';
import { runWrk, type WrkResult } from './wrk';

/**
 * `make bench`: the cases of ./cases.ts side by side in one run on this
 * machine. Servers run on core 0 (`taskset -c 0`), this process — the load
 * generator — on core 1 (the Makefile starts it with `taskset -c 1`). Every
 * case: keep-alive connections, a warm-up that is discarded, then a measured
 * run bounded in time and requests, during which the server's CPU time (its
 * whole process tree, from /proc) is read: CPU µs per request is steadier
 * than req/s on a noisy machine. The long-tail cases request the traffic
 * model's links (`--links`, `--zipf`; loadtest/traffic.ts), seeded in bulk.
 * Needs `npm run build`, PostgreSQL at DATABASE_URL (a scratch database is
 * created and dropped) and `redis-server` on the PATH (two private ones run
 * on core 1).
 */

const RESULTS = path.join(__dirname, '../results');
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP_SECONDS = 2;
const MAX_REQUESTS = 3_000_000;
const TOKEN = `bench-${randomBytes(12).toString('hex')}`;
/** BENCH_CASES=bareExpress,cachedLocal runs only those (for a quick A/B while working); the results are not kept. */
const ONLY = process.env.BENCH_CASES?.split(',').filter(Boolean);
const { values: flags } = parseArgs({ options: { links: { type: 'string' }, zipf: { type: 'string' } } });
const TRAFFIC = trafficFromFlags(flags);

interface Measured extends WrkResult {
  /** Server CPU time per request served in the measured window, µs. */
  readonly cpuMicrosPerRequest: number;
  /** Which tier answered the redirects, from the server's own /metrics. */
  readonly tiers?: TierShares;
}

interface Bench {
  readonly cases: readonly Case[];
  readonly coldRedis: Redis;
  /** Where each case's trace continues. */
  readonly offsets: Map<string, number>;
}

const caseOf = (bench: Bench, key: string) => bench.cases.find((c) => c.key === key)!;

/** One wrk run of `c` against `server`, continuing its trace. */
async function load(bench: Bench, c: Case, server: Server, seconds: number): Promise<WrkResult> {
  const offset = bench.offsets.get(c.key) ?? 0;
  const r = await runWrk({
    url: server.url,
    connections: CONNECTIONS,
    seconds,
    load: c.load,
    offset,
    maxRequests: MAX_REQUESTS,
  });
  bench.offsets.set(c.key, offset + r.requests.total);
  return r;
}

/** Empties the cold case's Redis as a restart does: its links, and every worker's cache with them (the subscriber reconnects and clears it). */
async function emptyRedis(bench: Bench, server: Server): Promise<void> {
  await bench.coldRedis.flushall();
  await bench.coldRedis.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
  const entries = async () =>
    [...(await scrape(server))].find(([k]) => k.startsWith('boltlink_local_cache_entries'))?.[1];
  await waitFor(async () => (await entries()) === 0, 10_000);
}

interface MeasureOptions {
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly print: boolean;
}

async function measure(bench: Bench, c: Case, server: Server, o: MeasureOptions): Promise<Measured> {
  if (o.warmupSeconds > 0) await load(bench, c, server, o.warmupSeconds);
  if (c.beforeMeasure === 'emptyRedis') await emptyRedis(bench, server);
  const lookupsBefore = server.metricsUrl ? await scrape(server) : undefined;
  const cpuBefore = treeCpuMs(server.proc.pid!);
  const measured = await load(bench, c, server, o.seconds);
  const cpuMs = treeCpuMs(server.proc.pid!) - cpuBefore;
  const r: Measured = {
    ...measured,
    cpuMicrosPerRequest: Math.round((cpuMs * 1000 * 10) / Math.max(1, measured.requests.total)) / 10,
    tiers: lookupsBefore ? tierShares(lookupsBefore, await scrape(server)) : undefined,
  };
  if (o.print) printMeasured(c, r);
  return r;
}

function printMeasured(c: Case, r: Measured): void {
  const failed = r.errors.socket + r.errors.timeouts + r.errors.status;
  const t = r.tiers;
  const tiers =
    t && t.lookups > 0 && t.workerCache < 1
      ? `\n      tiers: worker cache ${pct(t.workerCache)}, joined ${pct(t.joined)}, Redis ${pct(t.redis)}, PostgreSQL ${pct(t.postgres)}`
      : '';
  process.stdout.write(
    `  ${c.title.padEnd(56)} ${String(r.requests.perSecond).padStart(7)} req/s  ${String(r.cpuMicrosPerRequest).padStart(6)} µs CPU/req  p50 ${r.latencyMs.p50} ms  p99 ${r.latencyMs.p99} ms  failures ${failed}${tiers}\n`,
  );
}

const pct = (share: number) => `${(share * 100).toFixed(1)} %`;

/** Each case (BENCH_CASES, or all) on its server, one server up at a time; started servers join `running`. */
async function runCases(bench: Bench, servers: Record<ServerName, () => Promise<Server>>, running: Server[]) {
  const results: Record<string, Measured> = {};
  let current: { name: ServerName; server: Server } | undefined;
  for (const c of bench.cases.filter((k) => !ONLY || ONLY.includes(k.key))) {
    if (current?.name !== c.server) {
      if (current) await stopServer(current.server);
      current = { name: c.server, server: await servers[c.server]() };
      running.push(current.server);
    }
    results[c.key] = await measure(bench, c, current.server, {
      seconds: SECONDS,
      warmupSeconds: WARMUP_SECONDS,
      print: true,
    });
  }
  if (current) await stopServer(current.server);
  return results;
}

/**
 * The cases of the alternating rounds: the platform's and the framework's
 * ceilings, BoltLink's hot-link redirect under PM2 and in plain node, and the
 * long tail in its steady state and right after Redis was emptied.
 */
const ROUND_CASES = ['rawHttp', 'bareExpress', 'cachedLocal', 'cachedPlain', 'longTailSteady', 'longTailCold'] as const;
type RoundCase = (typeof ROUND_CASES)[number];
const ROUND_ORDERS = williamsOrders(ROUND_CASES.length);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2 * ROUND_ORDERS.length);
const ROUND_SECONDS = 2;
const ROUND_WARMUP_SECONDS = 8;
type Round = Record<RoundCase, Measured>;

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
async function alternatingRounds(bench: Bench, servers: Record<RoundCase, Server>): Promise<Round[]> {
  // Every server is fresh: one discarded run each first, so the rounds compare optimised
  // code (without it the first rounds measured BoltLink's JIT warm-up: 486 µs, then 225 µs by round 6).
  for (const key of ROUND_CASES) await load(bench, caseOf(bench, key), servers[key], ROUND_WARMUP_SECONDS);
  const rounds: Round[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const round: Partial<Round> = {};
    for (const index of ROUND_ORDERS[i % ROUND_ORDERS.length]!) {
      const key = ROUND_CASES[index]!;
      const c = caseOf(bench, key);
      const o = { seconds: ROUND_SECONDS, warmupSeconds: c.roundWarmupSeconds ?? 0, print: false };
      round[key] = await measure(bench, c, servers[key], o);
    }
    rounds.push(round as Round);
    printRound(i, round as Round);
  }
  return rounds;
}

function printRound(i: number, round: Round): void {
  const cells = ROUND_CASES.map((k) => {
    const m = round[k];
    const hit = m.tiers && m.tiers.lookups > 0 && m.tiers.workerCache < 1 ? ` ${pct(m.tiers.workerCache)}` : '';
    return `${k} ${m.requests.perSecond} ${m.cpuMicrosPerRequest} ${m.latencyMs.p99}${hit}`;
  });
  process.stdout.write(`    round ${i + 1}: ${cells.join(' | ')}\n`);
}

/** The alternating rounds with their servers up (the two long-tail ones on servers of their own). */
async function runRounds(bench: Bench, starters: Record<ServerName, () => Promise<Server>>, running: Server[]) {
  const servers = {} as Record<RoundCase, Server>;
  for (const key of ROUND_CASES) {
    servers[key] = await starters[caseOf(bench, key).server]();
    running.push(servers[key]);
  }
  process.stdout.write(
    `\n  ${ROUND_CASES.join(', ')}: ${ROUNDS} alternating rounds of ${ROUND_SECONDS} s (req/s, µs CPU/req, p99 ms, worker-cache hits):\n`,
  );
  const rounds = await alternatingRounds(bench, servers);
  await Promise.all(Object.values(servers).map(stopServer));
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

/** A scratch database with the service's schema: the hot link, the read-path links, the Redis case's, the long tail. */
async function scratchDatabase(admin: string) {
  const db = await createScratchDatabase(admin, 'boltlink_bench');
  try {
    await migrate(db.url);
    await withClient(db.url, async (c) => {
      await c.query(`INSERT INTO links (slug, url) VALUES ('${HOT_SLUG}', 'https://example.com/target')`);
      await c.query(
        `INSERT INTO links (slug, url) SELECT 'u' || g, 'https://example.com/u/' || g FROM generate_series(1, ${UNCACHED_LINKS}) AS g`,
      );
      await c.query(
        `INSERT INTO links (slug, url) SELECT 'rc-' || g, 'https://example.com/r/' || g FROM generate_series(1, ${REDIS_CASE_LINKS}) AS g`,
      );
    });
    await seedLinks(db.url, TRAFFIC);
  } catch (err) {
    await db.drop();
    throw err;
  }
  return db;
}

interface Goal {
  readonly value: number;
  readonly goal: number;
  readonly atLeast: boolean;
}

/** The simulation's worker-cache hit ratio for the steady long-tail run, at its measured rate and with its warm-up. */
function simulatedSteadyHitRatio(results: Record<string, Measured>): number {
  const r = results.longTailSteady!;
  return simulateWorkerCache({
    model: TRAFFIC,
    cache: workerCacheOf(sizingFor('bench')),
    reqPerSecPerWorker: r.requests.perSecond,
    warmupRequests: Math.round(r.requests.perSecond * WARMUP_SECONDS),
    requests: r.requests.total,
  }).workerHitRatio;
}

/** The goals, each from ratios measured side by side in this run; printed met or MISSED. */
function goalsOf(rounds: readonly Round[], results: Record<string, Measured>): Record<string, Goal> {
  const r = (k: string) => results[k]!;
  const p99 = (k: RoundCase) => median(rounds.map((round) => round[k].latencyMs.p99));
  const measuredHits = r('longTailSteady').tiers!.workerCache;
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
    workerCacheP99Ms: { value: p99('cachedLocal'), goal: 10, atLeast: false },
    pm2OverPlainNode: { value: ratio(rounds, 'cachedLocal', 'cachedPlain', reqPerSec), goal: 0.95, atLeast: true },
    longTailOverBareExpress: {
      value: ratio(rounds, 'longTailSteady', 'bareExpress', reqPerSec),
      goal: 3,
      atLeast: true,
    },
    longTailOverHotLink: { value: ratio(rounds, 'longTailSteady', 'cachedLocal', reqPerSec), goal: 0.5, atLeast: true },
    longTailP99Ms: { value: p99('longTailSteady'), goal: 10, atLeast: false },
    coldLongTailOverBareExpress: {
      value: ratio(rounds, 'longTailCold', 'bareExpress', reqPerSec),
      goal: 1.5,
      atLeast: true,
    },
    coldLongTailP99Ms: { value: p99('longTailCold'), goal: 25, atLeast: false },
    simulatedHitRatioErrorPoints: {
      value: Math.abs(simulatedSteadyHitRatio(results) - measuredHits) * 100,
      goal: 5,
      atLeast: false,
    },
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
  process.stdout.write(
    '\ngoals (measured side by side in this run; the ratios and p99s from the alternating rounds)\n',
  );
  for (const [name, g] of Object.entries(goals)) {
    const met = g.atLeast ? g.value >= g.goal : g.value <= g.goal;
    process.stdout.write(
      `  ${name.padEnd(32)} ${g.value.toFixed(2).padStart(6)}  goal ${g.atLeast ? '≥' : '≤'} ${g.goal}  ${met ? 'met' : 'MISSED'}\n`,
    );
  }
  return goals;
}

/**
 * What a redirect costs the worker in each tier under the long tail, CPU µs,
 * for make plan. The isolated cases measure what a miss adds to a hit: a Redis
 * hit (every request misses a one-entry worker cache) and a PostgreSQL read
 * (each link asked for once), each over the hot link's cost. A hit under the
 * long tail costs more than the hot link's (a full cache, its garbage, clicks
 * on many links), so the tiers are anchored on the steady long-tail rounds:
 * their measured cost at their measured hit ratio.
 */
function tierCosts(rounds: readonly Round[], results: Record<string, Measured>) {
  const cpu = (k: string) => results[k]!.cpuMicrosPerRequest;
  const steadyMicros = median(rounds.map((r) => r.longTailSteady.cpuMicrosPerRequest));
  const workerCacheHitRatio = median(rounds.map((r) => r.longTailSteady.tiers!.workerCache));
  const redisExtra = cpu('cachedRedis') - cpu('cachedLocal');
  const postgresExtra = cpu('uncached') - cpu('cachedLocal');
  const hit = steadyMicros - (1 - workerCacheHitRatio) * redisExtra;
  const round1 = (n: number) => Math.round(n * 10) / 10;
  return {
    workerCacheMicros: round1(hit),
    redisMicros: round1(hit + redisExtra),
    postgresMicros: round1(hit + postgresExtra),
    anchor: { steadyMicros, workerCacheHitRatio },
  };
}

/** loadtest/results/bench-<time>.json and bench-latest.json (what make plan reads). */
function writeResults(
  rounds: readonly Round[],
  results: Record<string, Measured>,
  goals: Record<string, Goal>,
  cacheMiB: number,
) {
  const out = {
    measuredAt: new Date().toISOString(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
    connections: CONNECTIONS,
    seconds: SECONDS,
    traffic: TRAFFIC,
    perWorkerReqPerSec: results.cachedLocal!.requests.perSecond,
    tierCosts: tierCosts(rounds, results),
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

/** The two private Redis servers on the load generator's core (like a Redis on another host, never taking the server's CPU). */
async function privateRedises() {
  const [main, cold] = [
    await startPrivateRedis(undefined, '127.0.0.1', '1'),
    await startPrivateRedis(undefined, '127.0.0.1', '1'),
  ];
  return { main, cold, stop: () => Promise.all([main.stop(), cold.stop()]) };
}

async function main(): Promise<void> {
  if (spawnSync('wrk', ['-v']).error) throw new Error('make bench needs wrk on the PATH (Debian: apt-get install wrk)');
  const startedMs = Date.now();
  const db = await scratchDatabase(process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres');
  const running: Server[] = [];
  const pm2Homes: string[] = [];
  const redis = await privateRedises();
  const coldRedis = new Redis(redis.cold.url);
  const traceDir = mkdtempSync(path.join(os.tmpdir(), 'bench-traces-'));
  try {
    const keyPrefix = `bench:${randomBytes(4).toString('hex')}:`;
    await fillRedis(redis.main.url, keyPrefix, TRAFFIC, CONFIG_FIELDS.CACHE_TTL_SECONDS.parse(undefined));
    process.stdout.write(
      `make bench: servers on core 0, load on core 1, ${CONNECTIONS} keep-alive connections, ${WARMUP_SECONDS} s warm-up + ${SECONDS} s per case\n` +
        `  long tail: ${describeTraffic(TRAFFIC)}, seeded in PostgreSQL and Redis in ${((Date.now() - startedMs) / 1000).toFixed(1)} s\n`,
    );
    const bench: Bench = {
      cases: benchCases(await writeTraces(traceDir, TRAFFIC), TOKEN),
      coldRedis,
      offsets: new Map(),
    };
    const starters = serverStarters({
      dbUrl: db.url,
      redisUrl: redis.main.url,
      coldRedisUrl: redis.cold.url,
      keyPrefix,
      token: TOKEN,
      pm2Homes,
    });
    const results = await runCases(bench, starters, running);
    if (ONLY) return;
    const rounds = await runRounds(bench, starters, running);
    const cacheMiB = localCacheMiBPer100k();
    process.stdout.write(`  local cache memory: ${cacheMiB} MiB of heap per 100,000 entries (90-character URLs)\n`);
    writeResults(rounds, results, goalsOf(rounds, results), cacheMiB);
  } finally {
    coldRedis.disconnect();
    await Promise.all(running.map(stopServer));
    await redis.stop();
    [...pm2Homes, traceDir].forEach((d) => rmSync(d, { recursive: true, force: true }));
    await db.drop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
