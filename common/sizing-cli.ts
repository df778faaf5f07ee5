import { parseArgs } from 'node:util';
import { ENVIRONMENTS, SIZINGS, SizingError, sizingFor, type Sizing } from './sizing';

/**
 * `npm run sizing -- --env prod [--json | --get <field>]`
 * Prints the derived sizing: a table for people, JSON for scripts, or one
 * value (`--get pm2Instances`) for the Makefile's build args.
 */
function main(argv: readonly string[]): number {
  const args = parseCli(argv);
  const sizing = sizingFor(args.env);
  if (args.get) {
    if (!Object.hasOwn(sizing, args.get))
      throw new Error(`unknown field '${args.get}'; fields: ${Object.keys(sizing).join(', ')}`);
    process.stdout.write(`${JSON.stringify(sizing[args.get as keyof Sizing])}\n`);
  } else if (args.json) {
    process.stdout.write(`${JSON.stringify({ environment: args.env, ...sizing }, null, 2)}\n`);
  } else {
    process.stdout.write(table(args.env, sizing));
  }
  return 0;
}

function parseCli(argv: readonly string[]): { env: string; json: boolean; get?: string } {
  try {
    const { values } = parseArgs({
      args: [...argv],
      options: {
        env: { type: 'string', default: 'prod' },
        json: { type: 'boolean', default: false },
        get: { type: 'string' },
      },
      strict: true,
    });
    return values;
  } catch (err) {
    throw new Error(
      `${(err as Error).message}; usage: sizing --env <${ENVIRONMENTS.join('|')}> [--json | --get <field>]`,
    );
  }
}

function table(env: string, s: Sizing): string {
  const declared = new Set(Object.keys(SIZINGS[env as keyof typeof SIZINGS]));
  const rows = Object.entries(s).map(([k, v]) => [
    declared.has(k) ? 'declared' : 'derived',
    k,
    typeof v === 'object' ? JSON.stringify(v) : String(v),
  ]);
  rows.sort((a, b) => a[0]!.localeCompare(b[0]!));
  const w = [0, 1, 2].map((c) => Math.max(...rows.map((r) => r[c]!.length), 8));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(w[i]!))
      .join('  ')
      .trimEnd();
  return [
    `sizing: ${env}`,
    line(['source', 'field', 'value']),
    line(w.map((n) => '-'.repeat(n))),
    ...rows.map(line),
    '',
  ].join('\n');
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`sizing: ${err instanceof SizingError || err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
