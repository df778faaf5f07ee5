import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { SIZINGS, sizingFor, type EnvironmentName } from '../infra/sizing';

/**
 * `make plan`: the operations guide's capacity tables, computed from
 * infra/sizing.ts and the latest `make bench` (loadtest/results/bench-latest.json).
 * Throughput scales per worker from the measured cached-redirect rate of one
 * PM2 worker on one core; nothing here is typed in.
 */
const { values } = parseArgs({
  options: {
    results: { type: 'string', default: path.join(__dirname, 'results/bench-latest.json') },
    // An assumption, printed with the table: on-demand general-purpose vCPU price.
    'usd-per-vcpu-month': { type: 'string', default: '15' },
  },
});
if (!existsSync(values.results!)) {
  process.stderr.write(`plan: no benchmark at ${values.results}; run make bench first\n`);
  process.exit(1);
}
const bench = JSON.parse(readFileSync(values.results!, 'utf8')) as {
  measuredAt: string;
  machine: { model?: string };
  perWorkerReqPerSec: number;
  results: Record<string, { requests: { perSecond: number } }>;
};
const perWorker = bench.perWorkerReqPerSec;
const usdPerVcpu = Number(values['usd-per-vcpu-month']);
/** The guide's estimate per core, shown beside the measurement it is replaced by. */
const GUIDE_PER_CORE = 1000;

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
function table(head: string[], rows: (string | number)[][]): string {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const w = head.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padStart(w[i]!)).join(' | ')} |`;
  return [line(head), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...cells.slice(1).map(line)].join('\n');
}

const out: string[] = [];
out.push(
  `Measured: ${fmt(perWorker)} req/s per PM2 worker (cached redirect, one core) on ${bench.measuredAt.slice(0, 10)} (${bench.machine.model ?? 'unknown CPU'}).`,
);
out.push(
  `PostgreSQL paths on the same worker: ${fmt(bench.results.create?.requests.perSecond ?? 0)} creates/s, ${fmt(bench.results.uncached?.requests.perSecond ?? 0)} uncached redirects/s.`,
);
out.push('', 'Single pod, by cores (one worker per core):', '');
out.push(
  table(
    ['cores', 'workers', 'measured-based req/s', 'guide estimate'],
    [1, 2, 4, 8, 16].map((c) => [c, c, fmt(c * perWorker), fmt(c * GUIDE_PER_CORE)]),
  ),
);

out.push('', 'Per environment (infra/sizing.ts):', '');
const envs = (Object.keys(SIZINGS) as EnvironmentName[]).filter((e) => e !== 'bench' && e !== 'local');
out.push(
  table(
    [
      'env',
      'workers/pod',
      'cpu/pod',
      'memory/pod',
      'req/s per pod',
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
    ['pods', 'cores', 'req/s (cached redirects)', 'guide estimate', 'cost / month'],
    replicas.map((p) => {
      const cores = (p * prod.cpuLimitMilli) / 1000;
      return [
        p,
        cores,
        fmt(p * prod.pm2Instances * perWorker),
        fmt(cores * GUIDE_PER_CORE),
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
