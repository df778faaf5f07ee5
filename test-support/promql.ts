import { parser } from '@prometheus-io/lezer-promql';
import type { Sizing } from '../common/sizing';
import { ruleGroups } from '../infra/monitoring/alerts';
import { dashboardPanels } from '../infra/monitoring/dashboard';

/** Metric names a PromQL expression selects, from lezer-promql's syntax tree; throws on a syntax error. */
export function metricNames(expr: string): string[] {
  const names: string[] = [];
  const cursor = parser.parse(expr).cursor();
  do {
    if (cursor.type.isError) throw new Error(`syntax error at ${cursor.from} in ${expr}`);
    if (cursor.name === 'Identifier') {
      const parent = cursor.node.parent;
      if (parent?.name === 'VectorSelector') names.push(expr.slice(cursor.from, cursor.to));
    }
  } while (cursor.next());
  return names;
}

/**
 * Every PromQL expression of the monitoring for a sizing: each dashboard query (Grafana's
 * $__rate_interval replaced by `rateInterval`) and each rule's, with where it comes from.
 */
export function everyExpression(s: Sizing, rateInterval: string): { where: string; expr: string }[] {
  const dashboard = dashboardPanels(s).flatMap((row) =>
    row.panels.flatMap((p) =>
      p.targets.map((t) => ({
        where: `dashboard "${p.title}"`,
        expr: t.expr.replaceAll('$__rate_interval', rateInterval),
      })),
    ),
  );
  const rules = ruleGroups(s)
    .flatMap((g) => g.rules)
    .map((r) => ({ where: `rule ${'alert' in r ? r.alert : r.record}`, expr: r.expr }));
  return [...dashboard, ...rules];
}
