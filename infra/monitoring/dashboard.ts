import * as common from '@grafana/grafana-foundation-sdk/common';
import {
  DashboardBuilder,
  DatasourceVariableBuilder,
  RowBuilder,
  ThresholdsConfigBuilder,
  ThresholdsMode,
  type Dashboard,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder } from '@grafana/grafana-foundation-sdk/timeseries';
import { DEPLOYMENT_NAME } from '../names';
import { BYTES_PER_MIB } from '../../common/contract';
import type { Sizing } from '../../common/sizing';
import { CPU_SATURATED, errorBudget, SLO } from './alerts';
import { queries } from './queries';

const RATE = '$__rate_interval';
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

/** A dashboard's panel: title, unit, its queries (PromQL and legend) and the sizing's lines on it. */
interface PanelSpec {
  readonly title: string;
  readonly description: string;
  readonly unit: string;
  readonly targets: readonly { readonly expr: string; readonly legend: string }[];
  /** Threshold lines (value, color), drawn dashed: the sizing's numbers the series must stay under. */
  readonly lines?: readonly { readonly value: number; readonly color: string }[];
  readonly min?: number;
}

type Row = { readonly row: string; readonly panels: readonly PanelSpec[] };

/** Every panel of the dashboard by row: the tests evaluate each query against a real Prometheus. */
export function dashboardPanels(s: Sizing): Row[] {
  return [
    { row: 'Golden signals', panels: goldenSignals(s) },
    { row: 'Workers', panels: workerPanels(s) },
    { row: 'Cache and dependencies', panels: dependencyPanels(s) },
  ];
}

/** Traffic, errors (against the availability SLO), latency (against the latency SLO), saturation. */
function goldenSignals(s: Sizing): PanelSpec[] {
  const W = s.pm2Instances;
  return [
    {
      title: 'Traffic',
      description: 'Requests per second over every pod, and by status.',
      unit: 'reqps',
      targets: [
        { expr: queries.traffic(RATE), legend: 'all' },
        { expr: queries.trafficByStatus(RATE), legend: '{{status}}' },
      ],
    },
    {
      title: '5xx ratio',
      description: 'Share of requests answered 5xx; the line is the redirect availability objective’s budget.',
      unit: 'percentunit',
      targets: [
        { expr: queries.errorRatio(RATE), legend: 'all routes' },
        { expr: queries.redirectErrorRatio(RATE), legend: 'redirect' },
      ],
      lines: [{ value: errorBudget(SLO.availability), color: 'red' }],
      min: 0,
    },
    {
      title: 'Latency by route',
      description: `p50 and p99 in the pod (no network in front); the line is the latency objective’s ${SLO.latency.thresholdSeconds * 1000} ms.`,
      unit: 's',
      targets: [
        { expr: queries.latencyByRoute(0.5, RATE), legend: 'p50 {{route}}' },
        { expr: queries.latencyByRoute(0.99, RATE), legend: 'p99 {{route}}' },
      ],
      lines: [{ value: SLO.latency.thresholdSeconds, color: 'red' }],
      min: 0,
    },
    {
      title: 'CPU saturation',
      description: `CPU used by each pod’s workers over its ${W} baked PM2 workers (1 = every worker busy); the line is where BoltLinkCpuSaturated fires.`,
      unit: 'percentunit',
      targets: [{ expr: queries.cpuSaturation(RATE, W), legend: '{{pod}}' }],
      lines: [{ value: CPU_SATURATED, color: 'orange' }],
      min: 0,
    },
  ];
}

/** Each worker's memory and heap against the sizing's limits, readiness, restarts. */
function workerPanels(s: Sizing): PanelSpec[] {
  const W = s.pm2Instances;
  return [
    {
      title: 'Worker memory (resident)',
      description: `Each PM2 worker’s RSS; PM2 restarts a worker at max_memory_restart (${s.maxMemoryRestartMiB} MiB), the container is OOM-killed at ${s.memoryLimitMiB} MiB.`,
      unit: 'bytes',
      targets: [{ expr: queries.workerResidentMemory(), legend: '{{pod}} worker {{worker}}' }],
      lines: [{ value: s.maxMemoryRestartMiB * BYTES_PER_MIB, color: 'red' }],
      min: 0,
    },
    {
      title: 'Worker heap',
      description: `V8 heap in use per worker against --max-old-space-size=${s.heapMiBPerWorker} MiB.`,
      unit: 'bytes',
      targets: [{ expr: queries.workerHeapUsed(), legend: '{{pod}} worker {{worker}}' }],
      lines: [{ value: s.heapMiBPerWorker * BYTES_PER_MIB, color: 'red' }],
      min: 0,
    },
    {
      title: 'Ready workers',
      description: `Workers answering /ready 200 per pod, of ${W}.`,
      unit: 'short',
      targets: [{ expr: queries.readyWorkers(), legend: '{{pod}}' }],
      lines: [{ value: W, color: 'green' }],
      min: 0,
    },
    {
      title: 'Worker restarts',
      description: 'Worker starts per pod in the interval (PM2 restarts inside the pod; kubectl’s RESTARTS stays 0).',
      unit: 'short',
      targets: [{ expr: queries.workerRestarts(RATE), legend: '{{pod}}' }],
      min: 0,
    },
  ];
}

/** The worker cache, PostgreSQL's pool, Redis, the metrics aggregation. */
function dependencyPanels(s: Sizing): PanelSpec[] {
  const W = s.pm2Instances;
  return [
    {
      title: 'Cache lookups',
      description: 'Redirect lookups by tier (local worker cache, Redis, PostgreSQL) and result.',
      unit: 'reqps',
      targets: [
        { expr: queries.cacheLookups(RATE), legend: '{{tier}} {{result}}' },
        { expr: queries.cacheInvalidations(RATE), legend: 'invalidations received' },
      ],
      min: 0,
    },
    {
      title: 'Worker cache entries',
      description:
        'Entries in the pods’ worker caches (LOCAL_CACHE_MAX_ENTRIES and LOCAL_CACHE_MAX_MIB bound each worker).',
      unit: 'short',
      targets: [{ expr: queries.localCacheEntries(), legend: '{{pod}}' }],
      min: 0,
    },
    {
      title: 'Database pool',
      description: `Connections per pod by state; the pool holds ${s.dbPoolPerWorker} per worker × ${W}. Waiting > 0 is saturation.`,
      unit: 'short',
      targets: [{ expr: queries.dbPool(), legend: '{{pod}} {{state}}' }],
      lines: [{ value: s.dbPoolPerPod, color: 'red' }],
      min: 0,
    },
    {
      title: 'Redis-connected workers',
      description: `Workers whose Redis connection is ready, per pod, of ${W}.`,
      unit: 'short',
      targets: [{ expr: queries.redisConnectedWorkers(), legend: '{{pod}}' }],
      lines: [{ value: W, color: 'green' }],
      min: 0,
    },
    {
      title: 'Metrics aggregation misses',
      description: 'Workers that missed the pod’s /metrics aggregation deadline in the interval.',
      unit: 'short',
      targets: [{ expr: queries.aggregationMisses(RATE), legend: '{{pod}}' }],
      min: 0,
    },
  ];
}

function panel(p: PanelSpec): PanelBuilder {
  const b = new PanelBuilder()
    .title(p.title)
    .description(p.description)
    .unit(p.unit)
    .datasource(DATASOURCE)
    .height(8)
    .span(12)
    .legend(
      new common.VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(common.LegendDisplayMode.List)
        .placement(common.LegendPlacement.Bottom),
    );
  if (p.min !== undefined) b.min(p.min);
  for (const t of p.targets) b.withTarget(new DataqueryBuilder().expr(t.expr).legendFormat(t.legend));
  if (p.lines) {
    b.thresholds(
      new ThresholdsConfigBuilder()
        .mode(ThresholdsMode.Absolute)
        .steps([{ value: null, color: 'transparent' }, ...p.lines]),
    ).thresholdsStyle(new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed));
  }
  return b;
}

/** The Grafana dashboard of one environment's release, built with the Foundation SDK's typed builders. */
export function dashboard(s: Sizing, environment: string): Dashboard {
  const b = new DashboardBuilder(`BoltLink backend (${environment})`)
    .uid(`boltlink-${environment}`)
    .tags(['boltlink', DEPLOYMENT_NAME, environment])
    .description(
      `Generated by infra/monitoring/dashboard.ts from common/sizing.ts (${environment}); do not edit in Grafana.`,
    )
    .refresh('30s')
    .time({ from: 'now-3h', to: 'now' })
    .editable()
    .withVariable(new DatasourceVariableBuilder('datasource').label('Prometheus').type('prometheus'));
  for (const { row, panels } of dashboardPanels(s)) {
    b.withRow(new RowBuilder(row));
    for (const p of panels) b.withPanel(panel(p));
  }
  return b.build();
}
