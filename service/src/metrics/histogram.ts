import type { Metric, MetricValueWithName, Registry } from 'prom-client';

/** One label set's observations: a count per bucket (not cumulative), their sum and their number. */
class Child {
  private readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        this.counts[i]!++;
        break;
      }
    }
    this.sum += value;
    this.count++;
  }

  cumulative(): number[] {
    let acc = 0;
    return Array.from(this.counts, (n) => (acc += n));
  }
}

/** A value of the export; buckets carry prom-client's (empty) exemplar. */
type Exported = MetricValueWithName<string> & { exemplar?: null };

export interface HistogramObserver {
  observe(value: number): void;
}

/**
 * A Prometheus histogram whose label sets are bound once: an observation is
 * a bucket search and two additions. prom-client's Histogram checks and
 * hashes the label set on every observe, through a child from labels() too,
 * and the request histogram is observed on every request: on the fast
 * redirect that was the largest cost left of BoltLink's own (docs/benchmarks.md).
 * It serves prom-client's metric contract (registerMetric, get() in
 * prom-client's shape, as AggregatorRegistry's own merged metrics do), so the
 * registry's text, the JSON the metrics server merges across workers and the
 * merge itself treat it as prom-client's; a test holds the two to the same
 * output for the same observations.
 */
export class BoundHistogram<L extends string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly children = new Map<string, Child>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly L[],
    private readonly bounds: readonly number[],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Metric);
  }

  /** The observer of one label set, in labelNames' order; the same object for the same values. */
  labels(...values: string[]): HistogramObserver {
    const key = values.join('\u0000');
    let child = this.children.get(key);
    if (!child) {
      child = new Child(Object.fromEntries(this.labelNames.map((n, i) => [n, values[i]!])), this.bounds);
      this.children.set(key, child);
    }
    return child;
  }

  /** prom-client's histogram export: per label set the cumulative buckets, +Inf, _sum and _count. */
  async get(): Promise<{ name: string; help: string; type: 'histogram'; values: Exported[]; aggregator: 'sum' }> {
    const values: Exported[] = [];
    for (const child of this.children.values()) {
      if (child.count === 0) continue;
      const bucket = `${this.name}_bucket`;
      // prom-client's order of fields and labels (`le` first), so the JSON is its JSON too.
      child.cumulative().forEach((n, i) => {
        values.push({ value: n, metricName: bucket, exemplar: null, labels: { le: this.bounds[i]!, ...child.labels } });
      });
      values.push({ value: child.count, metricName: bucket, exemplar: null, labels: { le: '+Inf', ...child.labels } });
      values.push({ value: child.sum, metricName: `${this.name}_sum`, labels: { ...child.labels } });
      values.push({ value: child.count, metricName: `${this.name}_count`, labels: { ...child.labels } });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    this.children.clear();
  }
}
