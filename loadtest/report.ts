import type { LoadResult } from './runner';

/** The summary the operations guide shows, as text. */
export function summary(r: LoadResult): string {
  const codes = Object.entries(r.byStatus)
    .map(([c, n]) => `${c}: ${n}`)
    .join(', ');
  const steps = Object.entries(r.byStep)
    .map(([s, v]) => `${s} ${v.count}${v.unexpected ? ` (${v.unexpected} unexpected)` : ''}`)
    .join(', ');
  return [
    `${r.title} — ${r.url}, ${r.connections} connections, ${r.durationSeconds} s`,
    `  requests      ${r.requests.total} (${r.requests.perSecond} req/s)`,
    `  latency       avg ${r.latencyMs.avg} ms, p50 ${r.latencyMs.p50} ms, p95 ${r.latencyMs.p95} ms, p99 ${r.latencyMs.p99} ms, max ${r.latencyMs.max} ms`,
    `  errors        ${r.errors.socket} socket, ${r.errors.timeouts} timeouts, ${r.errors.unexpectedStatus} unexpected status`,
    `  by status     ${codes || 'none'}`,
    ...(steps ? [`  by step       ${steps}`] : []),
    ...Object.entries(r.latencyByKind).map(
      ([k, v]) =>
        `  ${k.padEnd(13)} ${v.count} requests, p50 ${v.p50} ms, p95 ${v.p95} ms, p99 ${v.p99} ms, max ${v.max} ms`,
    ),
    '',
  ].join('\n');
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** An SVG bar chart; `bars` are [label, value]. */
/** Both charts' size and margins. */
const w = 760;
const h = 260;
const pad = { l: 60, r: 10, t: 30, b: 60 };

/** A chart's frame (title, axes, the 0 and max labels, the unit) around its marks. */
function chart(title: string, unit: string, max: number, marks: string): string {
  return `<figure><svg viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img" aria-label="${esc(title)}">
<text x="${pad.l}" y="18" font-size="14" font-weight="bold">${esc(title)}</text>
<line x1="${pad.l}" y1="${h - pad.b}" x2="${w - pad.r}" y2="${h - pad.b}" stroke="#333"/>
<line x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${h - pad.b}" stroke="#333"/>
<text x="${pad.l - 6}" y="${pad.t + 4}" font-size="10" text-anchor="end">${max}</text>
<text x="${pad.l - 6}" y="${h - pad.b}" font-size="10" text-anchor="end">0</text>
<text x="14" y="${(h - pad.b + pad.t) / 2}" font-size="11" transform="rotate(-90 14 ${(h - pad.b + pad.t) / 2})" text-anchor="middle">${esc(unit)}</text>
${marks}</svg></figure>`;
}

function bars(title: string, data: readonly (readonly [string, number])[], unit: string): string {
  const max = Math.max(1, ...data.map(([, v]) => v));
  const bw = (w - pad.l - pad.r) / Math.max(1, data.length);
  const y = (v: number) => pad.t + (h - pad.t - pad.b) * (1 - v / max);
  const rects = data
    .map(([label, v], i) => {
      const x = pad.l + i * bw;
      const tick =
        i % Math.ceil(data.length / 12) === 0
          ? `<text x="${x + bw / 2}" y="${h - pad.b + 14}" font-size="10" text-anchor="end" transform="rotate(-45 ${x + bw / 2} ${h - pad.b + 14})">${esc(label)}</text>`
          : '';
      return `<rect x="${x + 1}" y="${y(v)}" width="${Math.max(1, bw - 2)}" height="${h - pad.b - y(v)}" fill="#2f6fdf"><title>${esc(label)}: ${v}</title></rect>${tick}`;
    })
    .join('');
  return chart(title, unit, max, rects);
}

/** An SVG line chart of several series over the same x values; `series` are [name, colour, values]. */
function lines(
  title: string,
  x: readonly string[],
  series: readonly (readonly [string, string, readonly number[]])[],
  unit: string,
): string {
  const max = Math.max(1, ...series.flatMap(([, , v]) => v));
  const step = (w - pad.l - pad.r) / Math.max(1, x.length - 1);
  const px = (i: number) => pad.l + i * step;
  const py = (v: number) => pad.t + (h - pad.t - pad.b) * (1 - v / max);
  const paths = series
    .map(([name, colour, v]) => {
      const d = v.map((y, i) => `${i === 0 ? 'M' : 'L'}${px(i).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
      const dots = v
        .map(
          (y, i) =>
            `<circle cx="${px(i).toFixed(1)}" cy="${py(y).toFixed(1)}" r="2.5" fill="${colour}"><title>${esc(name)} at ${esc(x[i]!)}: ${y} ${esc(unit)}</title></circle>`,
        )
        .join('');
      return `<path d="${d}" fill="none" stroke="${colour}" stroke-width="2"/>${dots}`;
    })
    .join('');
  const ticks = x
    .map((label, i) =>
      i % Math.ceil(x.length / 12) === 0
        ? `<text x="${px(i)}" y="${h - pad.b + 14}" font-size="10" text-anchor="end" transform="rotate(-45 ${px(i)} ${h - pad.b + 14})">${esc(label)}</text>`
        : '',
    )
    .join('');
  const legend = series
    .map(
      ([name, colour], i) =>
        `<rect x="${w - 150}" y="${8 + i * 14}" width="10" height="10" fill="${colour}"/><text x="${w - 135}" y="${17 + i * 14}" font-size="11">${esc(name)}</text>`,
    )
    .join('');
  return chart(title, unit, max, `${paths}${ticks}${legend}`);
}

/** The latency of each kind of request, as a table. */
function kindsTable(r: LoadResult): string {
  const kinds = Object.entries(r.latencyByKind);
  if (kinds.length === 0) return '';
  const head = ['kind', 'requests', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms'];
  const rows = kinds.map(([k, v]) => [k, v.count, v.p50, v.p95, v.p99, v.max]);
  return `<h2>Latency by request kind</h2><table><tr>${head.map((c) => `<th>${c}</th>`).join('')}</tr>${rows
    .map((row) => `<tr>${row.map((c) => `<td>${esc(String(c))}</td>`).join('')}</tr>`)
    .join('')}</table>`;
}

/** What the run was held to, and whether it met it (meetsThresholds). */
export interface Verdict {
  readonly thresholds: { readonly maxErrorRate: number; readonly p95Ms: number };
  readonly passed: boolean;
  readonly errorRate: number;
}

/**
 * A self-contained HTML report: verdict, summary table, latency histogram,
 * throughput over time, latency over time (p50 and p99 per second) and latency
 * by request kind.
 */
export function html(r: LoadResult, v?: Verdict): string {
  const verdict = v
    ? `<p class="verdict ${v.passed ? 'pass' : 'fail'}"><strong>${v.passed ? 'PASS' : 'FAIL'}</strong>: error rate ${(v.errorRate * 100).toFixed(3)} % (max ${v.thresholds.maxErrorRate * 100} %), p95 ${r.latencyMs.p95} ms (max ${v.thresholds.p95Ms} ms)</p>`
    : '';
  const rows: [string, string][] = [
    ['requests', `${r.requests.total} (${r.requests.perSecond} req/s)`],
    [
      'latency avg / p50 / p95 / p99 / max',
      `${r.latencyMs.avg} / ${r.latencyMs.p50} / ${r.latencyMs.p95} / ${r.latencyMs.p99} / ${r.latencyMs.max} ms`,
    ],
    [
      'errors',
      `${r.errors.socket} socket, ${r.errors.timeouts} timeouts, ${r.errors.unexpectedStatus} unexpected status`,
    ],
    [
      'by status',
      Object.entries(r.byStatus)
        .map(([c, n]) => `${c}: ${n}`)
        .join(', '),
    ],
    [
      'by step',
      Object.entries(r.byStep)
        .map(([s, v]) => `${s}: ${v.count}`)
        .join(', '),
    ],
  ];
  const firstUsed = r.histogram.findIndex((b) => b.count > 0);
  const lastUsed = r.histogram.length - 1 - [...r.histogram].reverse().findIndex((b) => b.count > 0);
  const hist =
    firstUsed === -1
      ? []
      : r.histogram.slice(firstUsed, lastUsed + 1).map((b) => [`≤${b.upToMs} ms`, b.count] as const);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(r.title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:820px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}figure{margin:1.5rem 0}.verdict{padding:.5rem .8rem;border-radius:4px}.pass{background:#dff5e1}.fail{background:#fbe0e0}</style></head>
<body><h1>${esc(r.title)}</h1><p>${esc(r.url)} — ${r.connections} keep-alive connections, ${r.durationSeconds} s, started ${esc(r.startedAt)}</p>
${verdict}
<table>${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table>
${bars('Latency histogram (responses per bucket)', hist, 'responses')}
${bars(
  'Throughput over time',
  r.perSecond.map((n, i) => [`${i + 1} s`, n] as const),
  'requests / s',
)}
${lines(
  'Latency over time (p50 and p99 of each second)',
  r.latencyOverTime.map((p) => `${p.second} s`),
  [
    ['p50', '#2f6fdf', r.latencyOverTime.map((p) => p.p50)],
    ['p99', '#d9480f', r.latencyOverTime.map((p) => p.p99)],
  ],
  'ms',
)}
${kindsTable(r)}
</body></html>
`;
}
