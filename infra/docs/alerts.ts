import { sizingFor } from '../../common/sizing';
import { alertsOf, ruleGroups } from '../monitoring/alerts';
import { cell } from './markdown';

/** The alert table of docs/monitoring.md, from the rules themselves (prod sizing): the page cannot drift from what fires. */
export function alertTable(): string {
  const rows = alertsOf(ruleGroups(sizingFor('prod'))).map(
    (a) =>
      `| \`${a.alert}\` | ${a.labels.severity} | ${cell(a.annotations.summary.replace(/\{\{[^}]*\}\}/g, '…'))} | \`${cell(a.expr)}\`${a.for ? ` for ${a.for}` : ''} |`,
  );
  return ['| alert | severity | summary | fires when |', '| --- | --- | --- | --- |', ...rows].join('\n');
}
