import scenarioJson from './scenario.json';

/**
 * The traffic model every load tool shares (make bench, npm run loadtest, the
 * k6 script through a trace file, make plan): `links` links seeded in bulk,
 * and redirects whose slugs follow a Zipf(`zipfS`) law over them, so the
 * link of rank k is asked for in proportion to 1/k^s: a few links very
 * popular, most of them rarely clicked. The single hot link stays the
 * ceiling case of make bench.
 */
export interface TrafficModel {
  /** Links seeded (slugs `<SLUG_PREFIX>1` … `<SLUG_PREFIX><links>`, rank 1 the most popular). */
  readonly links: number;
  /** The Zipf exponent: 0 is uniform, 1 the classic long tail, larger is more skewed. */
  readonly zipfS: number;
}

/** scenario.json's model: 1,000,000 links, Zipf(1.0), unless a flag says otherwise. */
export const DEFAULT_TRAFFIC: TrafficModel = scenarioJson.traffic;
/** Every seeded slug starts with it; the slug of rank k is `${SLUG_PREFIX}${k}`. */
export const SLUG_PREFIX = scenarioJson.traffic.slugPrefix;
const MAX_LINKS = 50_000_000;

export const slugOfRank = (rank: number) => `${SLUG_PREFIX}${rank}`;

/**
 * The URL seeded for the link of rank k: 90-odd characters, the length the
 * worker cache's memory bound is measured with (make bench's cache memory).
 */
export const urlOfRank = (rank: number) =>
  `https://www.example-shop.com/products/item-${rank}?utm_source=newsletter&utm_medium=email&utm_campaign=long-tail`;
/** The same URL as SQL over a column `g` of ranks, for INSERT … SELECT generate_series. */
export const URL_OF_RANK_SQL = `'https://www.example-shop.com/products/item-' || g || '?utm_source=newsletter&utm_medium=email&utm_campaign=long-tail'`;

export const describeTraffic = (m: TrafficModel) =>
  `Zipf(${m.zipfS.toFixed(2)}) over ${m.links.toLocaleString('en-US')} links`;

/**
 * A model from command-line flags (`--links`, `--zipf`), defaults for the
 * ones not given; throws naming every bad flag.
 */
export function trafficFromFlags(flags: { links?: string; zipf?: string }): TrafficModel {
  const problems: string[] = [];
  const links = flags.links === undefined ? DEFAULT_TRAFFIC.links : Number(flags.links);
  const zipfS = flags.zipf === undefined ? DEFAULT_TRAFFIC.zipfS : Number(flags.zipf);
  if (!Number.isInteger(links) || links < 1 || links > MAX_LINKS)
    problems.push(
      `--links must be a whole number from 1 to ${MAX_LINKS.toLocaleString('en-US')}, got '${flags.links}'`,
    );
  if (!Number.isFinite(zipfS) || zipfS < 0 || zipfS > 4)
    problems.push(`--zipf must be a number from 0 to 4, got '${flags.zipf}'`);
  if (problems.length > 0) throw new Error(problems.join('; '));
  return { links, zipfS };
}

/**
 * mulberry32: a tiny seeded generator, so a trace is the same on every run
 * and machine (Math.random cannot be seeded). Uniform in [0, 1).
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Ranks drawn from the model: inverse transform sampling over the cumulative
 * distribution (one Float64Array of `links` entries, 8 MB per million links,
 * built once; a draw is a binary search, well under a microsecond).
 */
export class ZipfSampler {
  private readonly cdf: Float64Array;
  private readonly random: () => number;

  constructor(
    readonly model: TrafficModel,
    seed = 1,
  ) {
    this.cdf = cumulative(model);
    this.random = seededRandom(seed);
  }

  /** The next rank, 1 … links. */
  next(): number {
    const u = this.random();
    const cdf = this.cdf;
    let lo = 0;
    let hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] <= u) lo = mid + 1;
      else hi = mid;
    }
    return lo + 1;
  }

  /** The probability of rank k (1-based). */
  probability(rank: number): number {
    return this.cdf[rank - 1] - (rank > 1 ? this.cdf[rank - 2] : 0);
  }
}

const tables = new Map<string, Float64Array>();

/** The cumulative distribution of ranks 1 … links, cached per model (the bench and the plan draw from several samplers). */
function cumulative(m: TrafficModel): Float64Array {
  const key = `${m.links}:${m.zipfS}`;
  let cdf = tables.get(key);
  if (!cdf) {
    cdf = new Float64Array(m.links);
    let sum = 0;
    for (let k = 1; k <= m.links; k++) cdf[k - 1] = sum += k ** -m.zipfS;
    for (let i = 0; i < cdf.length; i++) cdf[i] /= sum;
    cdf[cdf.length - 1] = 1;
    tables.set(key, cdf);
  }
  return cdf;
}
