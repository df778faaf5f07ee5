import { randomBytes } from 'node:crypto';
import scenarioJson from './scenario.json';

/** The traffic mix, read from scenario.json (which the k6 script opens too). */
export interface Step {
  readonly name: 'redirect' | 'create' | 'info' | 'unknown';
  readonly weight: number;
  readonly method: 'GET' | 'POST';
  readonly expect: readonly number[];
}

export const scenario = scenarioJson as {
  readonly mix: readonly Step[];
  readonly thresholds: { readonly maxErrorRate: number; readonly p95Ms: number };
};

/**
 * The mix as an ordered schedule of 100 steps, interleaved (largest remainder)
 * so every window of requests carries the weights, not runs of one kind.
 */
export function schedule(mix: readonly Step[] = scenario.mix): Step[] {
  const total = mix.reduce((n, s) => n + s.weight, 0);
  const credit = mix.map(() => 0);
  const out: Step[] = [];
  for (let i = 0; i < total; i++) {
    mix.forEach((s, j) => (credit[j]! += s.weight));
    const pick = credit.indexOf(Math.max(...credit));
    credit[pick]! -= total;
    out.push(mix[pick]!);
  }
  return out;
}

export const randomSlug = (prefix: string) => `${prefix}${randomBytes(6).toString('hex')}`;
