import type { Counter, LabelValues } from 'prom-client';

/** A counter child as the hot path sees it. */
export interface Tally {
  inc(): void;
}

class Child<L extends string> implements Tally {
  n = 0;

  constructor(readonly labels: LabelValues<L>) {}

  inc(): void {
    this.n++;
  }
}

/**
 * Counter children counted as plain numbers and handed to prom-client when a
 * scrape collects the counter (the Counter's `collect` option calls
 * `collect`): prom-client's bound child hashes its label set on every inc(),
 * and a redirect increments two counters. A scrape sees every increment made
 * before it, as with prom-client's own children.
 */
export class Tallies<L extends string> {
  private readonly children = new Map<string, Child<L>>();

  constructor(private readonly labelNames: readonly L[] = []) {}

  /** The tally of one label set, in labelNames' order; the same for the same values. */
  labels(...values: string[]): Tally {
    const key = values.join('\u0000');
    let child = this.children.get(key);
    if (!child) {
      child = new Child(Object.fromEntries(this.labelNames.map((n, i) => [n, values[i]!])) as LabelValues<L>);
      this.children.set(key, child);
    }
    return child;
  }

  /** Moves what every tally counted since the last scrape into `counter`. */
  collect(counter: Counter<L>): void {
    for (const child of this.children.values()) {
      if (child.n === 0) continue;
      counter.inc(child.labels, child.n);
      child.n = 0;
    }
  }
}
