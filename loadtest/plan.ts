import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { SIZINGS, sizingFor, type EnvironmentName } from '../common/sizing';
import { GUIDE_REQ_PER_SEC_PER_CORE } from './guide';

/**
 * `make plan`: the operations guide's capacity tables, computed from
 * common/sizing.ts and the latest `make bench` (loadtest/results/bench-latest.json).
 * Throughput scales per worker from the measured cached-redirect rate of one
 * PM2 worker on one core. Without a bench result it falls back to the guide's
 * estimate and says so on every table.
 */
const { values } = parseArgs({
  options: {
    results: { type: 'string', default: path.join(__dirname, 'results/bench-latest.json') },
    // An assumption, printed with the table: on-demand general-purpose vCPU price.
    'usd-per-vcpu-month': { type: 'string', default: '15' },
  },
});
interface Bench {
  measuredAt: string;
  machine: { model?: string };
  perWorkerReqPerSec: number;
  results: Record<string, { requests: { perSecond: number } }>;
}
const bench = existsSync(values.results!) ? (JSON.parse(readFileSync(values.results!, 'utf8')) as Bench) : undefined;
/** Measured per worker when a bench exists; the guide's estimate, labelled as such, when not. */
const perWorker = bench?.perWorkerReqPerSec ?? GUIDE_REQ_PER_SEC_PER_CORE;
const usdPerVcpu = Number(values['usd-per-vcpu-month']);
const rateLabel = bench ? 'measured-based req/s' : 'req/s (guide estimate)';

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
function table(head: string[], rows: (string | number)[][]): string {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const w = head.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padStart(w[i]!)).join(' | ')} |`;
  return [line(head), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...cells.slice(1).map(line)].join('\n');
}

const out: string[] = [];
if (bench) {
  out.push(
    `Measured: ${fmt(perWorker)} req/s per PM2 worker (cached redirect, one core) on ${bench.measuredAt.slice(0, 10)} (${bench.machine.model ?? 'unknown CPU'}).`,
  );
  out.push(
    `PostgreSQL paths on the same worker: ${fmt(bench.results.create?.requests.perSecond ?? 0)} creates/s, ${fmt(bench.results.uncached?.requests.perSecond ?? 0)} uncached redirects/s.`,
  );
} else {
  out.push(
    `NOT MEASURED: no make bench result at ${values.results}. These figures use the operations guide's estimate of ` +
      `${fmt(GUIDE_REQ_PER_SEC_PER_CORE)} req/s per core, which measurements on this project's machines have beaten ` +
      `several times over. Measure with make bench (about 2 minutes, needs PostgreSQL and redis-server), then run make plan again.`,
  );
}
out.push('', 'Single pod, by cores (one worker per core):', '');
out.push(
  table(
    ['cores', 'workers', rateLabel, 'guide estimate'],
    [1, 2, 4, 8, 16].map((c) => [c, c, fmt(c * perWorker), fmt(c * GUIDE_REQ_PER_SEC_PER_CORE)]),
  ),
);

out.push('', 'Per environment (common/sizing.ts):', '');
// Environments that run in a cluster for users: not the local, bench and cluster-test ones.
const envs = (Object.keys(SIZINGS) as EnvironmentName[]).filter((e) => e === 'staging' || e === 'prod');
out.push(
  table(
    [
      'env',
      'workers/pod',
      'cpu/pod',
      'memory/pod',
      bench ? 'req/s per pod' : 'req/s per pod (estimate)',
      'replicas',
      `req/s at min`,
      `req/s at max`,
      'pool/worker',
    ],
    envs.map((e) => {
      const s = sizingFor(e);
      const pod = s.pm2Instances * perWorker;
      return [
        e,
        s.pm2Instances,
        `${s.cpuLimitMilli}m`,
        `${s.memoryLimitMiB}Mi`,
        fmt(pod),
        `${s.minReplicas}-${s.maxReplicas}`,
        fmt(pod * s.minReplicas),
        fmt(pod * s.maxReplicas),
        s.dbPoolPerWorker,
      ];
    }),
  ),
);

const prod = sizingFor('prod');
const replicas = [
  ...new Set([prod.minReplicas, Math.round((prod.minReplicas + prod.maxReplicas) / 2), prod.maxReplicas]),
];
out.push(
  '',
  `Multi-pod projection (prod: ${prod.pm2Instances} workers per pod), cost at $${usdPerVcpu} per vCPU-month (an assumption; pass --usd-per-vcpu-month):`,
  '',
);
out.push(
  table(
    ['pods', 'cores', bench ? 'req/s (cached redirects)' : 'req/s (guide estimate)', 'guide estimate', 'cost / month'],
    replicas.map((p) => {
      const cores = (p * prod.cpuLimitMilli) / 1000;
      return [
        p,
        cores,
        fmt(p * prod.pm2Instances * perWorker),
        fmt(cores * GUIDE_REQ_PER_SEC_PER_CORE),
        `$${fmt(cores * usdPerVcpu)}`,
      ];
    }),
  ),
);
out.push(
  '',
  'Linear in workers up to PostgreSQL/Redis limits: writes and cache misses scale with the database, not the pods.',
  '',
);
process.stdout.write(out.join('\n'));
