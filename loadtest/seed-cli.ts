import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { seedLinks } from './seed';
import { describeTraffic, slugOfRank, trafficFromFlags, ZipfSampler } from './traffic';

/**
 * `npm run loadtest:seed -- [--links N] [--zipf s] [--trace FILE] [--trace-requests N]`
 * The traffic model's links, in bulk, in the database at DATABASE_URL (or
 * --database-url): what a deployed release needs before the k6 script
 * (loadtest/stress_test.js) loads it. Writes the redirects' slugs, drawn from
 * the model, to a trace file k6 replays (JSON; k6 cannot run this project's
 * TypeScript, so the model's draws are made here, once).
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    strict: true,
    options: {
      links: { type: 'string' },
      zipf: { type: 'string' },
      'database-url': { type: 'string' },
      trace: { type: 'string', default: path.join(__dirname, 'results/trace.json') },
      'trace-requests': { type: 'string', default: '1000000' },
      seed: { type: 'string', default: '1' },
    },
  });
  const traffic = trafficFromFlags(values);
  const databaseUrl = values['database-url'] ?? process.env.DATABASE_URL;
  if (!databaseUrl) throw new Error("pass --database-url or set DATABASE_URL (the release's database)");
  const count = Number(values['trace-requests']);
  if (!Number.isInteger(count) || count < 1)
    throw new Error(`--trace-requests must be a positive whole number, got '${values['trace-requests']}'`);
  const started = Date.now();
  const inserted = await seedLinks(databaseUrl, traffic);
  process.stdout.write(
    `${describeTraffic(traffic)}: ${inserted.toLocaleString('en-US')} links inserted in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
  );
  const sampler = new ZipfSampler(traffic, Number(values.seed));
  mkdirSync(path.dirname(values.trace!), { recursive: true });
  writeFileSync(values.trace!, `${JSON.stringify(Array.from({ length: count }, () => slugOfRank(sampler.next())))}\n`);
  process.stdout.write(`${count.toLocaleString('en-US')} redirect slugs written to ${values.trace} (TRACE=… for k6)\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`loadtest:seed: ${(err as Error).message}\n`);
  process.exitCode = 2;
});
