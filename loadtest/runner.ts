import type { EventEmitter } from 'node:events';
import autocannon from 'autocannon';
import * as hdr from 'hdr-histogram-js';
import { randomSlug, scenario, schedule, type Step } from './scenario';
import { seedLinks } from './seed';
import { slugOfRank, ZipfSampler, type TrafficModel } from './traffic';

/** One load run's numbers: what the summary, the JSON and the HTML report show. */
export interface LoadResult {
  readonly title: string;
  readonly url: string;
  readonly startedAt: string;
  readonly durationSeconds: number;
  readonly connections: number;
  readonly requests: { readonly total: number; readonly perSecond: number };
  readonly latencyMs: {
    readonly avg: number;
    readonly p50: number;
    readonly p95: number;
    readonly p99: number;
    readonly max: number;
  };
  /** Socket errors and timeouts, plus responses whose status the step did not expect. */
  readonly errors: { readonly socket: number; readonly timeouts: number; readonly unexpectedStatus: number };
  readonly byStatus: Readonly<Record<string, number>>;
  readonly byStep: Readonly<Record<string, { count: number; unexpected: number }>>;
  /** Latency histogram on log-spaced buckets: count of responses at or below `upToMs`. */
  readonly histogram: readonly { readonly upToMs: number; readonly count: number }[];
  /** Completed requests in each second of the run. */
  readonly perSecond: readonly number[];
  /** Latency in each second of the run (by when each response arrived), ms. */
  readonly latencyOverTime: readonly { readonly second: number; readonly p50: number; readonly p99: number }[];
  /** Latency of each kind of request (the mix's steps), ms. */
  readonly latencyByKind: Readonly<
    Record<string, { count: number; p50: number; p95: number; p99: number; max: number }>
  >;
}

export interface RunOptions {
  readonly title: string;
  readonly url: string;
  readonly connections: number;
  readonly durationSeconds: number;
  /** Stop after this many requests even if time remains (every run is bounded twice). */
  readonly maxRequests?: number;
  readonly requests?: autocannon.Request[];
  /** Statuses that count as success when `requests` carries no per-step expectations. */
  readonly expect?: readonly number[];
  /**
   * The kind of the response being recorded: a request's onResponse runs just
   * before autocannon reports that response's latency, on the same client.
   */
  readonly kindOfLastResponse?: () => string | undefined;
}

/** Log-spaced bucket bounds from 0.05 ms to ~6 s, rounded to two significant digits for labels. */
const HISTOGRAM_BUCKETS_MS = Array.from({ length: 36 }, (_, i) => Number((0.05 * 1.4 ** i).toPrecision(2)));

/** Runs autocannon with keep-alive connections and collects the LoadResult. */
export async function run(opts: RunOptions): Promise<LoadResult> {
  // Microseconds, 1 µs to 60 s at 3 significant digits; the JS implementation, whose recorded values can be iterated.
  const latencies = new hdr.Int32Histogram(1, 60_000_000, 3);
  const histogram = () => new hdr.Int32Histogram(1, 60_000_000, 2);
  const seconds: hdr.JsHistogram[] = [];
  const kinds = new Map<string, hdr.JsHistogram>();
  const startedMs = Date.now();
  const byStatus: Record<string, number> = {};
  const perSecond: number[] = [];
  let unexpectedStatus = 0;
  const startedAt = new Date().toISOString();

  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: opts.url,
        connections: opts.connections,
        duration: opts.durationSeconds,
        // maxOverallRequests, not amount: amount would override the duration bound.
        ...(opts.maxRequests ? { maxOverallRequests: opts.maxRequests } : {}),
        ...(opts.requests ? { requests: opts.requests } : {}),
        timeout: 10,
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    // @types/autocannon lags the runtime: the instance emits 'response' with the client first, and 'tick' with counts.
    const events = instance as unknown as EventEmitter;
    events.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
      byStatus[status] = (byStatus[status] ?? 0) + 1;
      const us = Math.max(1, Math.round(ms * 1000));
      latencies.recordValue(us);
      (seconds[Math.floor((Date.now() - startedMs) / 1000)] ??= histogram()).recordValue(us);
      const kind = opts.kindOfLastResponse?.();
      if (kind !== undefined) {
        let h = kinds.get(kind);
        if (!h) kinds.set(kind, (h = histogram()));
        h.recordValue(us);
      }
      if (!opts.requests && opts.expect && !opts.expect.includes(status)) unexpectedStatus++;
    });
    events.on('tick', (t: { counter: number }) => perSecond.push(t.counter));
  });
  const total = Object.values(byStatus).reduce((n, c) => n + c, 0);
  const elapsed = Math.max(result.duration, 0.001);
  const us = (p: number) => latencies.getValueAtPercentile(p) / 1000;
  const out: LoadResult = {
    title: opts.title,
    url: opts.url,
    startedAt,
    durationSeconds: Math.round(elapsed * 100) / 100,
    connections: opts.connections,
    requests: { total, perSecond: Math.round(total / elapsed) },
    latencyMs: {
      avg: round(latencies.mean / 1000),
      p50: round(us(50)),
      p95: round(us(95)),
      p99: round(us(99)),
      max: round(latencies.maxValue / 1000),
    },
    errors: { socket: result.errors - result.timeouts, timeouts: result.timeouts, unexpectedStatus },
    byStatus,
    // Filled by runMix from the steps' onResponse; a single-request run has no steps.
    byStep: {},
    histogram: reportBuckets(latencies),
    // autocannon ticks once more after the last request: that second carries nothing.
    perSecond: trimTrailingZeros(perSecond),
    latencyOverTime: [...seconds.entries()]
      .filter(([, h]) => h !== undefined)
      .map(([i, h]) => ({ second: i + 1, p50: percentileMs(h, 50), p99: percentileMs(h, 99) })),
    latencyByKind: Object.fromEntries(
      [...kinds].map(([k, h]) => [
        k,
        {
          count: h.totalCount,
          p50: percentileMs(h, 50),
          p95: percentileMs(h, 95),
          p99: percentileMs(h, 99),
          max: round(h.maxValue / 1000),
        },
      ]),
    ),
  };
  for (const h of [latencies, ...seconds.filter(Boolean), ...kinds.values()]) h.destroy();
  return out;
}

const round = (n: number) => Math.round(n * 100) / 100;
/** A percentile of a histogram of microseconds, in ms. */
const percentileMs = (h: hdr.JsHistogram, p: number) => round(h.getValueAtPercentile(p) / 1000);

/** The report's log-spaced buckets, counted from the recorded latencies (one histogram, not a second tally). */
function reportBuckets(latencies: hdr.JsHistogram): LoadResult['histogram'] {
  const counts = HISTOGRAM_BUCKETS_MS.map(() => 0);
  const values = latencies.recordedValuesIterator;
  values.reset();
  while (values.hasNext()) {
    const v = values.next();
    const b = HISTOGRAM_BUCKETS_MS.findIndex((upToMs) => v.valueIteratedTo / 1000 <= upToMs);
    counts[b === -1 ? counts.length - 1 : b]! += v.countAtValueIteratedTo;
  }
  return HISTOGRAM_BUCKETS_MS.map((upToMs, i) => ({ upToMs, count: counts[i]! }));
}

function trimTrailingZeros(counts: readonly number[]): number[] {
  let end = counts.length;
  while (end > 0 && counts[end - 1] === 0) end--;
  return counts.slice(0, end);
}

/**
 * One create through the API before the load: a load test creates links from
 * one client address (5 % of the mix), so it refuses to start against a
 * service that rate-limits link creation (every create past the limit would
 * be a 429 and the run would measure the limiter), or that refuses the token.
 */
export async function probeCreate(baseUrl: string, token: string): Promise<void> {
  const res = await fetch(`${baseUrl}/api/links`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ url: 'https://example.com/load/probe' }),
  });
  const limit = res.headers.get('ratelimit-limit');
  if (limit !== null) {
    await res.body?.cancel();
    throw new Error(
      `${baseUrl} rate-limits link creation (${limit} per client per window, RATE_LIMIT_CREATES): a load test ` +
        `creates links from one address and would measure the limiter; run the service with RATE_LIMIT_CREATES=0 ` +
        `(see loadtest/README.md)`,
    );
  }
  if (res.status !== 201)
    throw new Error(`the probe create failed: POST /api/links answered ${res.status}: ${await res.text()}`);
  await res.body?.cancel();
}

/**
 * The scenario's mix as autocannon requests: redirects and link info ask for
 * the slug `pick` draws (the traffic model's long tail), counting each step's
 * unexpected statuses into `stats`.
 */
export function mixRequests(
  token: string,
  pick: () => string,
  stats: Record<string, { count: number; unexpected: number }>,
  steps: readonly Step[] = schedule(),
  responded: (kind: Step['name']) => void = () => undefined,
): autocannon.Request[] {
  return steps.map((step) => ({
    method: step.method,
    setupRequest: (req: autocannon.Request) => {
      if (step.name === 'redirect') return { ...req, path: `/${pick()}` };
      if (step.name === 'info') return { ...req, path: `/api/links/${pick()}` };
      if (step.name === 'unknown') return { ...req, path: `/${randomSlug('zz')}` };
      return {
        ...req,
        path: '/api/links',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ url: `https://example.com/load/${randomSlug('')}` }),
      };
    },
    onResponse: (status: number) => {
      responded(step.name);
      const s = (stats[step.name] ??= { count: 0, unexpected: 0 });
      s.count++;
      if (!step.expect.includes(status)) s.unexpected++;
    },
  }));
}

/**
 * Seeds the traffic model's links in bulk into the service's database (once:
 * a second run finds them), probes a create, then runs the scenario's mix
 * against `url` with slugs drawn from the model.
 */
export async function runMix(
  opts: Omit<RunOptions, 'requests' | 'expect'> & {
    readonly token: string;
    readonly traffic: TrafficModel;
    /** The service's database, where the links are seeded. */
    readonly databaseUrl: string;
  },
): Promise<LoadResult & { seeded: number }> {
  const seeded = await seedLinks(opts.databaseUrl, opts.traffic);
  await probeCreate(opts.url, opts.token);
  const sampler = new ZipfSampler(opts.traffic, Date.now() % 2 ** 31);
  const stats: Record<string, { count: number; unexpected: number }> = {};
  let last: string | undefined;
  const requests = mixRequests(
    opts.token,
    () => slugOfRank(sampler.next()),
    stats,
    schedule(),
    (kind) => (last = kind),
  );
  const result = await run({ ...opts, requests, kindOfLastResponse: () => last });
  let unexpected = 0;
  for (const s of Object.values(stats)) unexpected += s.unexpected;
  return { ...result, seeded, byStep: stats, errors: { ...result.errors, unexpectedStatus: unexpected } };
}

/** Whether the run meets the scenario's thresholds. */
export function meetsThresholds(r: LoadResult): { passed: boolean; errorRate: number } {
  const failed = r.errors.socket + r.errors.timeouts + r.errors.unexpectedStatus;
  const errorRate = failed / Math.max(1, r.requests.total + r.errors.socket + r.errors.timeouts);
  return {
    passed: errorRate <= scenario.thresholds.maxErrorRate && r.latencyMs.p95 <= scenario.thresholds.p95Ms,
    errorRate,
  };
}
