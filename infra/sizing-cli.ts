import { ENVIRONMENTS, SIZINGS, SizingError, sizingFor, type Sizing } from './sizing';

/**
 * `npm run sizing -- --env prod [--json | --get <field>]`
 * Prints the derived sizing: a table for people, JSON for scripts, or one
 * value (`--get pm2Instances`) for the Makefile's build args.
 */
function main(argv: readonly string[]): number {
  const args = parseArgs(argv);
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

function parseArgs(argv: readonly string[]): { env: string; json: boolean; get?: string } {
  let env = 'prod';
  let json = false;
  let get: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--env') env = argv[++i] ?? '';
    else if (a === '--json') json = true;
    else if (a === '--get') get = argv[++i];
    else
      throw new Error(
        `unknown argument '${a}'; usage: sizing --env <${ENVIRONMENTS.join('|')}> [--json | --get <field>]`,
      );
  }
  return { env, json, ...(get ? { get } : {}) };
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
