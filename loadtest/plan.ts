import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { SIZINGS, sizingFor, type EnvironmentName, type Sizing } from '../common/sizing';
import {
  linksClickedIn,
  simulateWorkerCache,
  tierRatios,
  workerCacheOf,
  type TierRatios,
  type WorkerCacheSimulation,
} from './cache-sim';
import { CONFIG_FIELDS } from '../service/src/config';
import { GUIDE_REQ_PER_SEC_PER_CORE } from './guide';
import { describeTraffic, trafficFromFlags, type TrafficModel } from './traffic';

/**
 * `make plan`: capacity per environment from common/sizing.ts and the latest
 * `make bench` (loadtest/results/bench-latest.json), for the traffic model's
 * long tail of links. A redirect costs the worker's CPU what the bench
 * measured for the tier that answers it (worker cache, Redis, PostgreSQL);
 * which tier answers comes from a trace-driven simulation of the sizing's
 * worker cache at each worker's share of the traffic (loadtest/cache-sim.ts),
 * and from Redis's TTL at the release's rate. Without a bench result it falls
 * back to the operations guide's estimate and says so.
 */
const { values } = parseArgs({
  options: {
    results: { type: 'string', default: path.join(__dirname, 'results/bench-latest.json') },
    // An assumption, printed with the table: on-demand general-purpose vCPU price.
    'usd-per-vcpu-month': { type: 'string', default: '15' },
    links: { type: 'string' },
    zipf: { type: 'string' },
    // Requests each simulation replays after as many of warm-up (make plan's tests use fewer).
    'sim-requests': { type: 'string', default: '400000' },
  },
});

interface Bench {
  measuredAt: string;
  machine: { model?: string };
  traffic?: TrafficModel;
  perWorkerReqPerSec: number;
  tierCosts?: {
    workerCacheMicros: number;
    redisMicros: number;
    postgresMicros: number;
    /** The steady long-tail rounds the costs are anchored on. */
    anchor: { steadyMicros: number; workerCacheHitRatio: number };
  };
}

const bench = existsSync(values.results!) ? (JSON.parse(readFileSync(values.results!, 'utf8')) as Bench) : undefined;
const usdPerVcpu = Number(values['usd-per-vcpu-month']);
const simRequests = Number(values['sim-requests']);
const traffic = trafficFromFlags({
  links: values.links ?? bench?.traffic?.links.toString(),
  zipf: values.zipf ?? bench?.traffic?.zipfS.toString(),
});
/** Environments that run in a cluster for users: not the local, bench and cluster-test ones. */
const ENVS = (Object.keys(SIZINGS) as EnvironmentName[]).filter((e) => e === 'staging' || e === 'prod');
const CLICK_FLUSH_SECONDS = CONFIG_FIELDS.CLICK_FLUSH_INTERVAL_MS.parse(undefined) / 1000;

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
function table(head: string[], rows: (string | number)[][]): string {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const w = head.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padStart(w[i]!)).join(' | ')} |`;
  return [line(head), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...cells.slice(1).map(line)].join('\n');
}

type Costs = NonNullable<Bench['tierCosts']>;

/** A worker's CPU per redirect, µs, when the tiers answer in these shares. */
const microsPerRedirect = (c: Costs, t: TierRatios) =>
  t.workerCache * c.workerCacheMicros + t.redis * c.redisMicros + t.postgres * c.postgresMicros;

const simulations = new Map<string, WorkerCacheSimulation>();
/** The worker cache at a per-worker rate, memoised to two significant digits of the rate. */
function simulate(s: Sizing, reqPerSecPerWorker: number): WorkerCacheSimulation {
  const rate = Number(reqPerSecPerWorker.toPrecision(2));
  const key = `${s.localCacheMiBPerWorker}:${rate}`;
  let sim = simulations.get(key);
  if (!sim) {
    // The virtual time covers the TTL: two of warm-up, then at least one measured.
    const cache = workerCacheOf(s);
    const perTtl = Math.ceil((rate * cache.ttlMs) / 1000);
    sim = simulateWorkerCache({
      model: traffic,
      cache,
      reqPerSecPerWorker: rate,
      requests: Math.max(simRequests, perTtl),
      warmupRequests: Math.max(simRequests, 2 * perTtl),
    });
    simulations.set(key, sim);
  }
  return sim;
}

interface Point {
  readonly pods: number;
  readonly perWorker: number;
  readonly total: number;
  readonly tiers: TierRatios;
  readonly micros: number;
}

/**
 * A release of `pods` at capacity: the per-worker rate at which each worker's
 * core is busy, found by iterating rate → hit ratios → CPU per redirect → rate
 * (the hit ratio rises with the rate, so the fixed point converges in a few steps).
 */
function atCapacity(s: Sizing, pods: number, costs: Costs): Point {
  let perWorker = 1e6 / costs.workerCacheMicros / 2;
  let tiers: TierRatios | undefined;
  let micros = 0;
  for (let i = 0; i < 4; i++) {
    tiers = tierRatios(simulate(s, perWorker), perWorker * s.pm2Instances * pods);
    micros = microsPerRedirect(costs, tiers);
    perWorker = 1e6 / micros;
  }
  return { pods, perWorker, total: perWorker * s.pm2Instances * pods, tiers: tiers!, micros };
}

/** A release of `pods` serving `total` redirects a second: each worker's share, and what it costs. */
function atDemand(s: Sizing, pods: number, total: number, costs: Costs): Point {
  const perWorker = total / (s.pm2Instances * pods);
  const tiers = tierRatios(simulate(s, perWorker), total);
  return { pods, perWorker, total, tiers, micros: microsPerRedirect(costs, tiers) };
}

function measuredPlan(b: Bench, costs: Costs): string[] {
  const out = [
    `Traffic model: ${describeTraffic(traffic)} (make bench's; --links and --zipf plan another).`,
    `Measured by make bench on ${b.measuredAt.slice(0, 10)} (${b.machine.model ?? 'unknown CPU'}), worker CPU per redirect: ` +
      `${costs.workerCacheMicros} µs from the worker cache, ${costs.redisMicros} µs from Redis, ${costs.postgresMicros} µs from PostgreSQL`,
    `(anchored on the bench's steady long tail: ${costs.anchor.steadyMicros} µs at ${pct(costs.anchor.workerCacheHitRatio)} worker-cache hits).`,
    `One hot link, the ceiling: ${fmt(b.perWorkerReqPerSec)} req/s per worker.`,
    '',
    'At capacity (every worker busy on its core), the long tail:',
    '',
  ];
  const rows = ENVS.flatMap((e) => {
    const s = sizingFor(e);
    return [s.minReplicas, s.maxReplicas].map((pods) => {
      const p = atCapacity(s, pods, costs);
      const misses = 1 - p.tiers.workerCache;
      return [
        e,
        pods,
        pods * s.pm2Instances,
        fmt(p.perWorker),
        pct(p.tiers.workerCache),
        pct(p.tiers.redis),
        pct(p.tiers.postgres),
        p.micros.toFixed(1),
        fmt(p.total),
        fmt(p.total * misses),
        fmt(p.total * p.tiers.postgres),
        fmt(linksClickedIn(simulate(s, p.perWorker).sampler, p.total, CLICK_FLUSH_SECONDS) / CLICK_FLUSH_SECONDS),
      ];
    });
  });
  out.push(
    table(
      [
        'env',
        'pods',
        'workers',
        'req/s per worker',
        'worker cache',
        'Redis',
        'PostgreSQL',
        'µs CPU/req',
        'req/s',
        'Redis lookups/s',
        'PostgreSQL reads/s',
        'click rows/s',
      ],
      rows,
    ),
  );
  out.push(
    '',
    'Redis lookups are the worker-cache misses (one MGET per batch of them); PostgreSQL reads are the Redis misses;',
    `click rows are the links clicked within one click flush (${CLICK_FLUSH_SECONDS} s), each an UPDATE of its row.`,
  );
  const prod = sizingFor('prod');
  const demand = atCapacity(prod, prod.minReplicas, costs).total;
  const spread = [prod.minReplicas, Math.round((prod.minReplicas + prod.maxReplicas) / 2), prod.maxReplicas];
  out.push(
    '',
    `The same demand spread wider (prod, ${fmt(demand)} req/s: its minimum at capacity): every worker keeps a cache of its own,`,
    'so each sees less of the traffic and keeps fewer of the links hot, and a redirect costs more CPU:',
    '',
    table(
      [
        'pods',
        'req/s per worker',
        'worker cache',
        'µs CPU/req',
        'cores busy',
        `cost / month at $${usdPerVcpu} per vCPU`,
      ],
      spread.map((pods) => {
        const p = atDemand(prod, pods, demand, costs);
        return [
          pods,
          fmt(p.perWorker),
          pct(p.tiers.workerCache),
          p.micros.toFixed(1),
          ((p.total * p.micros) / 1e6).toFixed(1),
          `$${fmt(((pods * prod.cpuLimitMilli) / 1000) * usdPerVcpu)}`,
        ];
      }),
    ),
    '',
    'The vCPU price is an assumption (--usd-per-vcpu-month). Writes and cold starts (Redis emptied) are not in these rates:',
    'make bench measures them apart.',
  );
  return out;
}

function guidePlan(): string[] {
  return [
    `NOT MEASURED: no make bench result with per-tier costs at ${values.results}. These figures use the operations guide's ` +
      `estimate of ${fmt(GUIDE_REQ_PER_SEC_PER_CORE)} req/s per core for any traffic, which measurements on this project's ` +
      `machines have beaten several times over. Measure with make bench (about 8 minutes, needs PostgreSQL, redis-server and wrk), ` +
      `then run make plan again.`,
    '',
    table(
      [
        'env',
        'workers/pod',
        'cpu/pod',
        'memory/pod',
        'replicas',
        'req/s per pod (guide estimate)',
        'req/s at min',
        'req/s at max',
      ],
      ENVS.map((e) => {
        const s = sizingFor(e);
        const pod = s.pm2Instances * GUIDE_REQ_PER_SEC_PER_CORE;
        return [
          e,
          s.pm2Instances,
          `${s.cpuLimitMilli}m`,
          `${s.memoryLimitMiB}Mi`,
          `${s.minReplicas}-${s.maxReplicas}`,
          fmt(pod),
          fmt(pod * s.minReplicas),
          fmt(pod * s.maxReplicas),
        ];
      }),
    ),
  ];
}

// A result of an older make bench has no anchored per-tier costs: planned as unmeasured.
const costs = bench?.tierCosts?.anchor ? bench.tierCosts : undefined;
process.stdout.write(`${(bench && costs ? measuredPlan(bench, costs) : guidePlan()).join('\n')}\n`);
