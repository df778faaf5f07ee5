import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { format, resolveConfig } from 'prettier';
import { sizingFor } from '../sizing';
import { alertsOf, ruleGroups } from './alerts';

/**
 * `npm run docs`: the alert table of docs/monitoring.md, generated from the
 * rules themselves (prod sizing), so the page cannot drift from what fires.
 */
export const MONITORING_DOC = path.resolve(__dirname, '../../docs/monitoring.md');
const START =
  '<!-- alerts:start (generated from infra/monitoring/alerts.ts by npm run docs; a test fails when stale) -->';
const END = '<!-- alerts:end -->';

const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

export function alertTable(): string {
  const rows = alertsOf(ruleGroups(sizingFor('prod'))).map(
    (a) =>
      `| \`${a.alert}\` | ${a.labels.severity} | ${cell(a.annotations.summary.replace(/\{\{[^}]*\}\}/g, '…'))} | \`${cell(a.expr)}\`${a.for ? ` for ${a.for}` : ''} |`,
  );
  return ['| alert | severity | summary | fires when |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/** docs/monitoring.md with the block between the markers regenerated and formatted as the repository's Prettier does. */
async function renderMonitoringDoc(text: string): Promise<string> {
  const start = text.indexOf(START);
  const end = text.indexOf(END);
  if (start < 0 || end < start) throw new Error(`${MONITORING_DOC}: the alerts markers are missing`);
  const next = `${text.slice(0, start + START.length)}\n\n${alertTable()}\n\n${text.slice(end)}`;
  return format(next, { ...(await resolveConfig(MONITORING_DOC)), parser: 'markdown' });
}

/** npm run docs [-- --check] [file]: rewrites the page, or with --check exits 1 when it is stale. */
if (require.main === module) {
  const { values, positionals } = parseArgs({
    options: { check: { type: 'boolean' } },
    allowPositionals: true,
    strict: true,
  });
  const file = positionals[0] ?? MONITORING_DOC;
  const text = readFileSync(file, 'utf8');
  void renderMonitoringDoc(text).then((next) => {
    if (values.check) {
      if (next === text) return;
      process.stderr.write(`${path.relative(process.cwd(), file)} is stale: run npm run docs\n`);
      process.exitCode = 1;
      return;
    }
    writeFileSync(file, next);
    process.stdout.write(`wrote ${path.relative(process.cwd(), file)}\n`);
  });
}
