import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { alertsOf, BURN_RATES, ruleGroups, SLOS, type RuleGroup } from '../../monitoring/alerts';
import { ruleFile } from '../../monitoring/manifests';
import { JOB } from '../../monitoring/queries';
import { sizingFor, type Sizing } from '../../../common/sizing';
import { CHARTS_OUT } from '../../../test-support/synth';

/**
 * The rules under promtool (Debian's prometheus package): `check rules` on
 * the generated file, and `test rules` with a case where each alert fires and
 * one where it stays silent; for the SLO alerts, each burn-rate pair fires on
 * its own, and stays silent when only its long or only its short window burns.
 */
const prod = sizingFor('prod');
const W = prod.pm2Instances;
const MiB = 1024 * 1024;
const NS = 'shop';
const POD = 'boltlink-backend-7d9f-abcde';
const target = { job: JOB, namespace: NS, pod: POD };

/** Minutes of 1-minute samples, as promtool's input_series values. */
type Series = { series: string; values: string };
const labels = (l: Record<string, string>) =>
  `{${Object.entries(l)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',')}}`;
const series = (name: string, l: Record<string, string>, values: number[]): Series => ({
  series: `${name}${labels({ ...target, ...l })}`,
  values: values.join(' '),
});
/** A counter over `minutes` that grows by perMinute(m) in minute m (m = 1 … minutes), sampled every `step` minutes. */
const counter = (minutes: number, perMinute: (m: number) => number, step = 1) => {
  const v = [0];
  for (let m = 1; m <= minutes; m++) v.push(v[m - 1]! + perMinute(m));
  return v.filter((_, m) => m % step === 0);
};
const gauge = (minutes: number, value: (m: number) => number) =>
  Array.from({ length: minutes + 1 }, (_, m) => value(m));

interface Case {
  readonly name: string;
  readonly alert: string;
  readonly minutes: number;
  /** Minutes between samples and between rule evaluations (promtool evaluates every rule at every step). */
  readonly step: number;
  readonly input: Series[];
  /** The alert's labels when it fires at the end, or null when it must stay silent. */
  readonly fires: Record<string, string> | null;
}

/**
 * Redirect traffic for an SLO: 1,000 requests a minute, of which a share `bad(m)`
 * fails it (5xx for availability, slower than the threshold for latency).
 */
function sloTraffic(slo: (typeof SLOS)[number], minutes: number, step: number, bad: (m: number) => number): Series[] {
  const route = { route: '/:slug', method: 'GET' };
  if (slo.name === 'redirect-availability') {
    return [
      series(
        'http_request_duration_seconds_count',
        { ...route, status: '302' },
        counter(minutes, (m) => 1000 * (1 - bad(m)), step),
      ),
      series(
        'http_request_duration_seconds_count',
        { ...route, status: '503' },
        counter(minutes, (m) => 1000 * bad(m), step),
      ),
    ];
  }
  const le = String((slo as { thresholdSeconds: number }).thresholdSeconds);
  return [
    series(
      'http_request_duration_seconds_count',
      { ...route, status: '302' },
      counter(minutes, () => 1000, step),
    ),
    series(
      'http_request_duration_seconds_bucket',
      { ...route, status: '302', le },
      counter(minutes, (m) => 1000 * (1 - bad(m)), step),
    ),
  ];
}

const H = 60;
const D = 24 * H;
/**
 * Burn shapes per pair, in budgets (a share of `k` × the error budget during
 * minutes (from, to] before the evaluation). Checked by hand against the
 * factors: e.g. the 14.4× pair fires on 100× the budget for the last 10 minutes
 * (1h: 16.7×, 5m: 100×), and that burn ended 10 minutes ago is silent (5m: 0).
 */
const BURNS: Record<string, { minutes: number; fires: Burn; longOnly: Burn; shortOnly: Burn }> = {
  '1h/5m': { minutes: 8 * H, fires: [100, 10, 0], longOnly: [100, 20, 10], shortOnly: [100, 3, 0] },
  '6h/30m': { minutes: 8 * H, fires: [10, 7 * H, 0], longOnly: [10, 7 * H, 40], shortOnly: [10, 30, 0] },
  '1d/2h': { minutes: 26 * H, fires: [5, 25 * H, 0], longOnly: [5, 25 * H, 7 * H], shortOnly: [5, 2 * H, 0] },
  '3d/6h': { minutes: 3 * D + 2 * H, fires: [2, 3 * D + H, 0], longOnly: [2, 3 * D, 7 * H], shortOnly: [2, 6 * H, 0] },
};
/** [budgets, from, to]: minutes before the evaluation. */
type Burn = readonly [number, number, number];

function sloCases(): Case[] {
  return SLOS.flatMap((slo) => {
    const budget = 1 - slo.objective;
    return BURN_RATES.flatMap((b) => {
      const alert = `${slo.alert}${b.severity === 'page' ? 'Fast' : 'Slow'}`;
      const shapes = BURNS[`${b.long}/${b.short}`]!;
      // Two hours more than the longest burn; the day-long pairs sampled every 10 minutes
      // (at 1-minute samples promtool took 35 s a case over three days).
      const minutes = BURNS[`${b.long}/${b.short}`]!.minutes;
      const step = b.severity === 'page' ? 1 : 10;
      const make = (kind: string, [k, from, to]: Burn, fires: boolean): Case => ({
        name: `${alert} ${b.factor}x over ${b.long}/${b.short}: ${kind}`,
        alert,
        minutes,
        step,
        input: sloTraffic(slo, minutes, step, (m) =>
          m > minutes - from && m <= minutes - to ? Math.min(1, k * budget) : 0,
        ),
        fires: fires ? { namespace: NS, severity: b.severity } : null,
      });
      return [
        make('both windows burn: fires', shapes.fires, true),
        make('only the long window burns: silent', shapes.longOnly, false),
        make('only the short window burns: silent', shapes.shortOnly, false),
      ];
    });
  });
}

function workerCases(s: Sizing): Case[] {
  const worker = { worker: '0' };
  const one = (
    alert: string,
    minutes: number,
    make: (firing: boolean) => Series[],
    firingLabels: Record<string, string>,
    severity = 'warning',
  ): Case[] => [
    { name: `${alert}: fires`, alert, minutes, step: 1, input: make(true), fires: { ...firingLabels, severity } },
    { name: `${alert}: silent`, alert, minutes, step: 1, input: make(false), fires: null },
  ];
  const pod = { namespace: NS, pod: POD };
  /** One gauge series per worker of the pod. */
  const perWorker = (name: string, minutes: number, value: (w: number, m: number) => number) =>
    Array.from({ length: W }, (_, w) =>
      series(
        name,
        { worker: String(w) },
        gauge(minutes, (m) => value(w, m)),
      ),
    );
  return [
    ...one(
      'BoltLinkWorkerMemoryNearRestart',
      10,
      (f) => [
        series(
          'boltlink_worker_resident_memory_bytes',
          worker,
          gauge(10, () => (f ? 0.95 : 0.85) * s.maxMemoryRestartMiB * MiB),
        ),
      ],
      { ...pod, ...worker },
    ),
    ...one(
      'BoltLinkWorkerHeapNearLimit',
      10,
      (f) => [
        series(
          'boltlink_worker_heap_used_bytes',
          worker,
          gauge(10, () => (f ? 0.95 : 0.85) * s.heapMiBPerWorker * MiB),
        ),
      ],
      { ...pod, ...worker },
    ),
    // Firing: worker 0 restarts every minute; silent: a reload restarts every worker once.
    ...one(
      'BoltLinkWorkerRestartLoop',
      15,
      (f) =>
        perWorker('boltlink_worker_start_time_seconds', 15, (w, m) =>
          f && w === 0 ? 1000 + m * 60 : m < 8 ? 1000 : 1480,
        ),
      pod,
    ),
    ...one('BoltLinkPodUnready', 10, (f) => perWorker('boltlink_worker_ready', 10, (w) => (f && w === 0 ? 0 : 1)), pod),
    ...one(
      'BoltLinkMetricsDown',
      10,
      (f) => [
        series(
          'up',
          {},
          gauge(10, () => (f ? 0 : 1)),
        ),
      ],
      target,
    ),
    ...one(
      'BoltLinkCpuSaturated',
      25,
      // CPU seconds per minute: 60 × the busy workers.
      (f) => [
        series(
          'process_cpu_seconds_total',
          {},
          counter(25, () => 60 * W * (f ? 0.95 : 0.5)),
        ),
      ],
      pod,
    ),
    ...one(
      'BoltLinkDbPoolWaiting',
      10,
      (f) => [
        series(
          'boltlink_db_pool_connections',
          { state: 'waiting' },
          gauge(10, () => (f ? 2 : 0)),
        ),
      ],
      pod,
    ),
    ...one(
      'BoltLinkRedisDisconnected',
      10,
      (f) => [
        series(
          'boltlink_redis_connected_workers',
          {},
          gauge(10, () => (f ? W - 1 : W)),
        ),
      ],
      pod,
    ),
    ...one(
      'BoltLinkMetricsAggregationMisses',
      10,
      (f) => [
        series(
          'boltlink_metrics_aggregation_misses_total',
          {},
          gauge(10, (m) => (f && m >= 6 ? 1 : 0)),
        ),
      ],
      pod,
    ),
  ];
}

/** The rule file promtool tests: the generated rules without annotations (promtool compares those too). */
function testableRules(groups: RuleGroup[]): string {
  return stringify({
    groups: groups.map((g) => ({
      ...g,
      rules: g.rules.map((r) => ('alert' in r ? { alert: r.alert, expr: r.expr, for: r.for, labels: r.labels } : r)),
    })),
  });
}

/** Runs `cases` under promtool test rules, one test file per sample step; all must pass. */
function promtoolTest(cases: Case[], groups: RuleGroup[]): { status: number | null; out: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'promtool-'));
  writeFileSync(path.join(dir, 'rules.yaml'), testableRules(groups));
  let status: number | null = 0;
  let out = '';
  for (const step of [...new Set(cases.map((c) => c.step))]) {
    const tests = {
      rule_files: ['rules.yaml'],
      evaluation_interval: `${step}m`,
      tests: cases
        .filter((c) => c.step === step)
        .map((c) => ({
          name: c.name,
          interval: `${step}m`,
          input_series: c.input,
          alert_rule_test: [
            { eval_time: `${c.minutes}m`, alertname: c.alert, exp_alerts: c.fires ? [{ exp_labels: c.fires }] : [] },
          ],
        })),
    };
    const file = `tests-${step}m.yaml`;
    writeFileSync(path.join(dir, file), stringify(tests, { lineWidth: 0 }));
    const r = spawnSync('promtool', ['test', 'rules', file], { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) status = r.status;
    out += `${r.stdout}${r.stderr}`;
  }
  return { status, out };
}

describe('alerting and recording rules (promtool)', () => {
  const groups = ruleGroups(prod);

  it('promtool check rules accepts the generated file and the committed one', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rules-'));
    writeFileSync(path.join(dir, 'rules.yaml'), ruleFile(prod));
    const committed = path.join(CHARTS_OUT, 'monitoring/prometheus/boltlink-rules.yaml');
    const out = execFileSync('promtool', ['check', 'rules', path.join(dir, 'rules.yaml'), committed], {
      encoding: 'utf8',
    });
    const rules = groups.reduce((n, g) => n + g.rules.length, 0);
    expect(out.match(new RegExp(`SUCCESS: ${rules} rules found`, 'g'))).toHaveLength(2);
  });

  const cases = [...sloCases(), ...workerCases(prod)];

  it('has a firing and a silent case for every alert', () => {
    for (const a of alertsOf(groups)) {
      expect([a.alert, cases.some((c) => c.alert === a.alert && c.fires)]).toEqual([a.alert, true]);
      expect([a.alert, cases.some((c) => c.alert === a.alert && !c.fires)]).toEqual([a.alert, true]);
    }
  });

  it(`promtool test rules: ${cases.length} cases pass`, () => {
    // The whole output on a failure: promtool names each failing case with what it expected and got.
    expect(promtoolTest(cases, groups)).toMatchObject({ status: 0 });
  }, 120_000);

  it('promtool test rules fails when a case expects the wrong outcome (the harness can fail)', () => {
    const flipped = cases
      .filter((c) => c.alert === 'BoltLinkRedirectErrorBudgetBurnFast')
      .map((c) => ({ ...c, fires: c.fires ? null : { namespace: NS, severity: 'page' } }));
    const r = promtoolTest(flipped, groups);
    expect(r.status).not.toBe(0);
    expect(r.out).toContain('FAILED');
  }, 120_000);

  it('the committed rule file and PrometheusRule hold the same groups as the generator', () => {
    const file = parse(readFileSync(path.join(CHARTS_OUT, 'monitoring/prometheus/boltlink-rules.yaml'), 'utf8'));
    expect(file.groups).toEqual(JSON.parse(JSON.stringify(groups)));
  });
});
