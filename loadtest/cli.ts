import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_PORT } from '../common/contract';
import { html, summary } from './report';
import { meetsThresholds, runMix } from './runner';
import { scenario } from './scenario';
import { describeTraffic, trafficFromFlags } from './traffic';

/**
 * `npm run loadtest -- --url http://127.0.0.1:5000 --connections 100 --duration 60 [--links N] [--zipf s]`
 * Seeds the traffic model's links in bulk into the service's database
 * (--database-url, else DATABASE_URL, the service's own variable; once: a
 * second run finds them), runs the scenario mix (loadtest/scenario.json) with
 * keep-alive connections and slugs drawn from the model, prints the summary,
 * and writes JSON and an HTML report to loadtest/results/. Bounded by
 * --duration and --max-requests. The token comes from --token or API_TOKENS
 * (the first token is used). Exits 1 when the scenario's thresholds are
 * missed, 2 when it cannot run.
 */
async function main(): Promise<number> {
  const { values } = parseArgs({
    strict: true,
    options: {
      url: { type: 'string', default: `http://127.0.0.1:${DEFAULT_PORT}` },
      connections: { type: 'string', default: '100' },
      duration: { type: 'string', default: '60' },
      'max-requests': { type: 'string', default: '5000000' },
      token: { type: 'string' },
      out: { type: 'string', default: path.join(__dirname, 'results') },
      links: { type: 'string' },
      zipf: { type: 'string' },
      'database-url': { type: 'string' },
    },
  });
  const token = values.token ?? process.env.API_TOKENS?.split(',')[0]?.trim();
  if (!token) throw new Error('pass --token or set API_TOKENS (the tokens the service accepts; the first is used)');
  const databaseUrl = values['database-url'] ?? process.env.DATABASE_URL;
  if (!databaseUrl) {
    throw new Error(
      "pass --database-url or set DATABASE_URL (the service's database): the links are seeded there in bulk, not through the API",
    );
  }
  const traffic = trafficFromFlags(values);
  process.stdout.write(`seeding ${describeTraffic(traffic)} …\n`);
  const result = await runMix({
    title: `BoltLink load test, ${describeTraffic(traffic)}`,
    url: values.url!.replace(/\/+$/, ''),
    connections: positive('connections', values.connections!),
    durationSeconds: positive('duration', values.duration!),
    maxRequests: positive('max-requests', values['max-requests']!),
    token,
    traffic,
    databaseUrl,
  });
  process.stdout.write(`  seeded ${result.seeded.toLocaleString('en-US')} links (0: a run before seeded them)\n`);
  const verdict = meetsThresholds(result);
  mkdirSync(values.out!, { recursive: true });
  const stem = path.join(values.out!, `load-${result.startedAt.replace(/[:.]/g, '-')}`);
  writeFileSync(
    `${stem}.json`,
    `${JSON.stringify({ ...result, traffic, thresholds: scenario.thresholds, verdict }, null, 2)}\n`,
  );
  writeFileSync(`${stem}.html`, html(result, { thresholds: scenario.thresholds, ...verdict }));
  process.stdout.write(summary(result));
  process.stdout.write(
    `  thresholds    error rate ${(verdict.errorRate * 100).toFixed(3)}% (max ${scenario.thresholds.maxErrorRate * 100}%), p95 ${result.latencyMs.p95} ms (max ${scenario.thresholds.p95Ms} ms): ${verdict.passed ? 'PASS' : 'FAIL'}\n`,
  );
  process.stdout.write(`  report        ${stem}.html\n`);
  return verdict.passed ? 0 : 1;
}

function positive(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive whole number, got '${raw}'`);
  return n;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`loadtest: ${(err as Error).message}\n`);
    process.exitCode = 2;
  },
);
