import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { format, resolveConfig } from 'prettier';
import { alertTable } from './alerts';
import { configTable } from './configuration';

/**
 * `npm run docs`: the generated blocks of docs/, each between two markers in
 * its page and rendered from the code it documents. The prose around them is
 * hand-written; a test (npm run docs -- --check) fails when a block is stale.
 */
export const DOCS_DIR = path.resolve(__dirname, '../../docs');

interface Block {
  /** The page under docs/. */
  readonly page: string;
  readonly name: string;
  /** Where the facts live, named in the marker. */
  readonly source: string;
  render(): string;
}

export const BLOCKS: readonly Block[] = [
  { page: 'monitoring.md', name: 'alerts', source: 'infra/monitoring/alerts.ts', render: alertTable },
  { page: 'configuration.md', name: 'config', source: 'service/src/config.ts', render: configTable },
];

const startMarker = (b: Block) =>
  `<!-- ${b.name}:start (generated from ${b.source} by npm run docs; a test fails when stale) -->`;
const endMarker = (b: Block) => `<!-- ${b.name}:end -->`;

/** A page with each of its blocks regenerated, formatted as the repository's Prettier does. */
async function render(file: string, text: string): Promise<string> {
  const blocks = BLOCKS.filter((b) => b.page === path.basename(file));
  if (blocks.length === 0) throw new Error(`${file}: no generated block lives in this page`);
  let next = text;
  for (const b of blocks) {
    const start = next.indexOf(startMarker(b));
    const end = next.indexOf(endMarker(b));
    if (start < 0 || end < start) throw new Error(`${file}: the ${b.name} markers are missing`);
    next = `${next.slice(0, start + startMarker(b).length)}\n\n${b.render()}\n\n${next.slice(end)}`;
  }
  return format(next, { ...(await resolveConfig(file)), parser: 'markdown' });
}

/** npm run docs [-- --check] [page...]: rewrites the pages, or with --check exits 1 naming each stale one. */
async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: { check: { type: 'boolean' } },
    allowPositionals: true,
    strict: true,
  });
  const files = positionals.length > 0 ? positionals : [...new Set(BLOCKS.map((b) => path.join(DOCS_DIR, b.page)))];
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const next = await render(file, text);
    const shown = path.relative(process.cwd(), file);
    if (values.check) {
      if (next !== text) {
        process.stderr.write(`${shown} is stale: run npm run docs\n`);
        process.exitCode = 1;
      }
    } else if (next !== text) {
      writeFileSync(file, next);
      process.stdout.write(`wrote ${shown}\n`);
    }
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  });
}
