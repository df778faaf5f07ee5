import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, parseEnv } from 'node:util';
import { ConfigError, loadConfig } from '../service/src/config';
import { CONFIG_NAME } from './names';
import { pssViolations } from './pod-security';
import { checkManifests, type K8sObject } from './rules';
import { ENVIRONMENTS, nodeHeapArgs, SizingError, sizingFor, type Sizing } from '../common/sizing';
import { readRelease } from './manifests-dir';
import { schemaProblems } from './schemas';

/**
 * `make preflight ENV=prod [URL=https://…] [ENV_FILE=secrets.env]`: walks the
 * operations guide's production checklist against one environment and prints
 * PASS, FAIL or SKIP per item (SKIP: the item needs an input that was not
 * given). Exit status 1 when any item fails; an unknown flag is an error (2).
 *
 *   --env NAME        sizing environment (default prod)
 *   --out DIR         the manifests to check (default charts-out/, or charts-out.NAME/)
 *   --url URL         a deployed service: /health and /ready must answer 200
 *   --env-file FILE   the Secrets' values as KEY=value lines (DATABASE_URL, REDIS_URL,
 *                     API_TOKENS), checked with the ConfigMap by the service's own config parser
 *   --results DIR     where make bench / npm run loadtest write (default loadtest/results)
 */

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests and result files are plain JSON */
type Status = 'PASS' | 'FAIL' | 'SKIP';
export interface Item {
  readonly name: string;
  readonly status: Status;
  readonly detail: string;
}

const ROOT = path.resolve(__dirname, '..');
/** How long `--url` checks wait for /health and /ready. */
const PROBE_TIMEOUT_MS = 5_000;
/** Hosts reserved for examples (RFC 2606): a release still carrying one was never given its real origin. */
const PLACEHOLDER_HOST = /(^|\.)(example(\.com|\.net|\.org)?|test|invalid|localhost)$/i;

/** What every check may read: resolved once, before the first check runs. */
interface Context {
  readonly environment: string;
  readonly sizing: Sizing;
  readonly out: string;
  readonly results: string;
  readonly url: string | undefined;
  readonly envFile: string | undefined;
  /** The PM2 app as PM2 loads it for this environment (evaluated in a child process), or why it could not be. */
  readonly ecosystem: any;
  /** The synthesized objects in `out` (empty when it does not exist). */
  readonly objects: readonly K8sObject[];
  readonly deployment: any;
  readonly container: any;
  readonly configMap: any;
}

interface Check {
  readonly name: string;
  /** Checks that read the manifests run only when `out` exists. */
  readonly needs?: 'manifests';
  readonly run: (c: Context) => Verdict | Promise<Verdict>;
}

/** A check's outcome, the message for either result; the walk names the item (Check.name). */
type Verdict = { readonly ok: boolean; readonly pass: string; readonly fail: string } | { readonly skip: string };
const verdict = (ok: boolean, pass: string, fail: string): Verdict => ({ ok, pass, fail });
/** The check needs an input that was not given. */
const skip = (detail: string): Verdict => ({ skip: detail });
const itemOf = (name: string, v: Verdict): Item =>
  'skip' in v
    ? { name, status: 'SKIP', detail: v.skip }
    : { name, status: v.ok ? 'PASS' : 'FAIL', detail: v.ok ? v.pass : v.fail };

/** PM2 reads the CommonJS ecosystem file with its environment set; so does this, in a child, leaving ours alone. */
function loadEcosystem(environment: string, s: Sizing): any {
  const r = spawnSync(
    process.execPath,
    ['-p', `JSON.stringify(require(${JSON.stringify(path.join(ROOT, 'service/ecosystem.config.js'))}).apps[0])`],
    {
      encoding: 'utf8',
      env: { ...process.env, BOLTLINK_SIZING: environment, PM2_INSTANCES: String(s.pm2Instances) },
    },
  );
  if (r.status !== 0)
    return {
      error:
        r.stderr
          .trim()
          .split('\n')
          .find((l) => /Error/.test(l)) ?? r.stderr.trim(),
    };
  return JSON.parse(r.stdout);
}

function manifestsCurrent(c: Context): Verdict {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'preflight-'));
  try {
    const r = spawnSync('npx', ['--no-install', 'cdk8s', 'synth', '--no-check-upgrade', '--output', tmp], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, BOLTLINK_ENV: c.environment },
    });
    if (r.status !== 0) return verdict(false, '', `synth failed: ${r.stderr.trim().split('\n')[0]}`);
    // Every file, monitoring/ included.
    const files = (dir: string) =>
      (readdirSync(dir, { recursive: true }) as string[]).filter((f) => statSync(path.join(dir, f)).isFile()).sort();
    const fresh = files(tmp);
    const stale = fresh.filter(
      (f) =>
        !existsSync(path.join(c.out, f)) ||
        readFileSync(path.join(c.out, f), 'utf8') !== readFileSync(path.join(tmp, f), 'utf8'),
    );
    const extra = files(c.out).filter((f) => !fresh.includes(f));
    return verdict(
      stale.length === 0 && extra.length === 0,
      `${c.out} equals a fresh synth (${fresh.join(', ')})`,
      `${c.out} differs from a fresh synth: ${[...stale, ...extra].join(', ')}; run make synth ENV=${c.environment}`,
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function probe(url: string, p: string): Promise<string> {
  try {
    const res = await fetch(new URL(p, url), { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    return `${res.status} ${(await res.text()).slice(0, 200)}`;
  } catch (err) {
    return `unreachable (${(err as Error).message})`;
  }
}

/** The newest measurement in `results`: a make bench run with measured cases, or an npm run loadtest run. */
function latestLoadTest(results: string): Verdict {
  const runs = existsSync(results)
    ? readdirSync(results)
        .filter((f) => /^(bench-latest|load-.*)\.json$/.test(f))
        .map((f) => ({ file: path.join(results, f), at: statSync(path.join(results, f)).mtimeMs }))
        .sort((a, b) => b.at - a.at)
    : [];
  const how = 'run make bench, or npm run loadtest against the deployment';
  for (const run of runs) {
    let r: any;
    try {
      r = JSON.parse(readFileSync(run.file, 'utf8'));
    } catch {
      continue;
    }
    const when = new Date(run.at).toISOString();
    if (path.basename(run.file) === 'bench-latest.json') {
      const measured = Object.values(r?.results ?? {}).filter((c: any) => c?.requests?.total > 0).length;
      if (measured > 0) return verdict(true, `${run.file}: ${measured} cases measured, ${when}`, '');
    } else if (r?.requests?.total > 0) {
      return verdict(
        r.verdict?.passed === true,
        `${run.file}: ${r.requests.total} requests, thresholds met, ${when}`,
        `${run.file}: ${r.requests.total} requests, thresholds missed (error rate ${r.verdict?.errorRate}, p95 ${r.latencyMs?.p95} ms)`,
      );
    }
  }
  return verdict(false, '', `no measured load test in ${results}: ${how}`);
}

/** The guide's production checklist, in order. */
const CHECKS: readonly Check[] = [
  {
    name: 'build (npm run build)',
    run: () => {
      const built = ['dist/service/src/main.js', 'dist/common/sizing.js'].map((f) => path.join(ROOT, f));
      return verdict(
        built.every((f) => existsSync(f)) &&
          statSync(built[1]!).mtimeMs >= statSync(path.join(ROOT, 'common/sizing.ts')).mtimeMs,
        'dist/ holds the service and a sizing no older than common/sizing.ts',
        'dist/ is missing or older than common/sizing.ts: run npm run build',
      );
    },
  },
  {
    name: 'PM2 ecosystem reviewed',
    run: ({ ecosystem: app, sizing: s }) =>
      verdict(
        !app.error && app.exec_mode === 'cluster' && app.instances === s.pm2Instances,
        `cluster mode, ${app.instances} instances from the sizing (never 'max')`,
        app.error ?? `exec_mode ${app.exec_mode}, instances ${app.instances}; the sizing says ${s.pm2Instances}`,
      ),
  },
  {
    name: 'heap and memory restart consistent with the sizing',
    run: ({ ecosystem: app, sizing: s }) => {
      const args = (app.node_args ?? []).join(' ');
      const heap = Number(/--max-old-space-size=(\d+)/.exec(args)?.[1]);
      const restart = Number(/^(\d+)M$/.exec(app.max_memory_restart ?? '')?.[1]);
      const perWorker = s.memoryMiBPerWorker;
      return verdict(
        args === nodeHeapArgs(s).join(' ') &&
          restart === s.maxMemoryRestartMiB &&
          heap < restart &&
          restart <= perWorker,
        `heap ${heap} MiB < restart ${restart} MiB <= ${perWorker} MiB per worker of the ${s.memoryLimitMiB} MiB limit`,
        `node_args '${args}', restart ${restart} MiB, ${perWorker} MiB per worker; the sizing says '${nodeHeapArgs(s).join(' ')}', restart ${s.maxMemoryRestartMiB}`,
      );
    },
  },
  { name: 'manifests current', needs: 'manifests', run: manifestsCurrent },
  {
    name: 'workers match the pod CPU',
    needs: 'manifests',
    run: ({ container: c, sizing: s }) => {
      const workers = Number(c.env.find((e: any) => e.name === 'PM2_INSTANCES')?.value);
      const limit = c.resources.limits.cpu as string;
      const cores = limit.endsWith('m') ? Number(limit.slice(0, -1)) / 1000 : Number(limit);
      return verdict(
        workers === s.pm2Instances && cores === s.cpuLimitMilli / 1000 && workers <= Math.ceil(cores),
        `${workers} workers for a ${limit} CPU limit`,
        `${workers} workers, CPU limit ${limit}; the sizing says ${s.pm2Instances} workers, ${s.cpuLimitMilli}m`,
      );
    },
  },
  {
    name: 'NODE_ENV=production',
    needs: 'manifests',
    run: ({ configMap }) =>
      verdict(
        configMap.data.NODE_ENV === 'production',
        'in the ConfigMap',
        `ConfigMap NODE_ENV is ${configMap.data.NODE_ENV}`,
      ),
  },
  {
    name: 'public URL and CORS origins are real',
    needs: 'manifests',
    run: ({ configMap }) => {
      const origins = String(configMap.data.ALLOWED_ORIGINS ?? '')
        .split(',')
        .filter(Boolean);
      const base = String(configMap.data.PUBLIC_BASE_URL ?? '');
      const host = (u: string) => URL.parse(u)?.hostname ?? u;
      const placeholders = [base, ...origins].filter((u) => PLACEHOLDER_HOST.test(host(u)));
      const problems = [
        ...(origins.length === 0 ? ['ALLOWED_ORIGINS is empty'] : []),
        ...(origins.includes('*') ? [`ALLOWED_ORIGINS '*' is refused in production`] : []),
        ...placeholders.map((u) => `${u} is a placeholder`),
      ];
      return verdict(
        problems.length === 0,
        `PUBLIC_BASE_URL ${base}, ALLOWED_ORIGINS ${origins.join(',')}`,
        `${problems.join('; ')}: set BOLTLINK_PUBLIC_BASE_URL and BOLTLINK_ALLOWED_ORIGINS, then make synth`,
      );
    },
  },
  {
    name: 'logs and PM2 state writable',
    needs: 'manifests',
    run: ({ configMap, container: c }) => {
      const home = configMap.data.PM2_HOME as string;
      const mounts = (c.volumeMounts ?? []).map((m: any) => m.mountPath as string);
      const under = mounts.find((m: string) => home === m || home.startsWith(`${m}/`));
      return verdict(
        c.securityContext?.readOnlyRootFilesystem !== true || under !== undefined,
        `PM2_HOME ${home} is on the writable volume at ${under}; logs go to stdout`,
        `PM2_HOME ${home} is on the read-only root filesystem`,
      );
    },
  },
  {
    name: 'API schemas, cluster rules and restricted Pod Security',
    needs: 'manifests',
    run: ({ objects, environment, deployment }) => {
      const v = [
        ...schemaProblems(objects),
        ...checkManifests(objects, { environment }),
        ...pssViolations(deployment.spec.template),
      ];
      return verdict(v.length === 0, 'no violation', v.join('; '));
    },
  },
  {
    name: 'monitoring configured',
    needs: 'manifests',
    run: ({ deployment, container: c }) => {
      const a = deployment.spec.template.metadata.annotations ?? {};
      return verdict(
        a['prometheus.io/scrape'] === 'true' &&
          (c.ports ?? []).some((p: any) => String(p.containerPort) === a['prometheus.io/port']),
        `Prometheus scrapes :${a['prometheus.io/port']}${a['prometheus.io/path']}`,
        'no Prometheus scrape annotations on a container port',
      );
    },
  },
  {
    name: 'config present and valid',
    needs: 'manifests',
    run: ({ envFile, container: c, configMap }) => {
      if (!envFile) return skip('no --env-file with the Secrets’ values given');
      const literal = Object.fromEntries(
        (c.env ?? []).filter((e: any) => e.value !== undefined).map((e: any) => [e.name, e.value]),
      );
      try {
        loadConfig({ ...configMap.data, ...literal, ...parseEnv(readFileSync(envFile, 'utf8')) });
        return verdict(true, 'ConfigMap + Secrets parse with the service’s config', '');
      } catch (err) {
        if (err instanceof ConfigError) return verdict(false, '', err.problems.join('; '));
        throw err;
      }
    },
  },
  {
    name: 'health checks passing',
    run: async ({ url }) => {
      if (!url) return skip('no --url given');
      const h = await probe(url, '/health');
      return verdict(h.startsWith('200 '), `GET /health → ${h}`, `GET /health → ${h}`);
    },
  },
  {
    name: 'ready for traffic',
    run: async ({ url }) => {
      if (!url) return skip('no --url given');
      const r = await probe(url, '/ready');
      return verdict(r.startsWith('200 '), `GET /ready → ${r}`, `GET /ready → ${r}`);
    },
  },
  { name: 'load test run', run: ({ results }) => latestLoadTest(results) },
  ...(
    [
      ['backup plan for database/Redis failure', 'docs/failure-modes.md', '# Failure modes'],
      ['rollback procedure documented', 'docs/operations.md', '### Rollback'],
    ] as const
  ).map(([name, file, heading]): Check => ({
    name,
    run: () => {
      const text = existsSync(path.join(ROOT, file)) ? readFileSync(path.join(ROOT, file), 'utf8') : '';
      return verdict(
        text.split('\n').includes(heading),
        `${file}: ${heading.replace(/^#+ /, '')}`,
        `${file} has no '${heading}'`,
      );
    },
  })),
];

const OPTIONS = {
  env: { type: 'string', default: 'prod' },
  out: { type: 'string' },
  url: { type: 'string' },
  'env-file': { type: 'string' },
  results: { type: 'string', default: path.join(ROOT, 'loadtest/results') },
} as const;

/** Runs every check in order; an exception fails its item with the message instead of stopping the walk. */
export async function preflight(argv: readonly string[]): Promise<Item[]> {
  const { values } = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false });
  const environment = values.env;
  if (!(ENVIRONMENTS as string[]).includes(environment)) {
    return [
      { name: 'environment', status: 'FAIL', detail: `'${environment}' is not one of ${ENVIRONMENTS.join(', ')}` },
    ];
  }
  let sizing: Sizing;
  try {
    sizing = sizingFor(environment);
  } catch (err) {
    return [{ name: 'sizing valid', status: 'FAIL', detail: err instanceof SizingError ? err.message : String(err) }];
  }
  const out = path.resolve(
    values.out ?? path.join(ROOT, environment === 'prod' ? 'charts-out' : `charts-out.${environment}`),
  );
  const objects = existsSync(out) ? readRelease(out) : [];
  const deployment: any = objects.find((o) => o.kind === 'Deployment');
  const context: Context = {
    environment,
    sizing,
    out,
    results: path.resolve(values.results),
    url: values.url,
    envFile: values['env-file'],
    ecosystem: loadEcosystem(environment, sizing),
    objects,
    deployment,
    container: deployment?.spec?.template?.spec?.containers?.[0],
    configMap: objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === CONFIG_NAME),
  };
  const items: Item[] = [
    {
      name: 'sizing valid',
      status: 'PASS',
      detail: `${sizing.pm2Instances} workers, ${sizing.memoryLimitMiB} MiB per pod`,
    },
  ];
  for (const check of CHECKS) {
    if (check.needs === 'manifests' && !existsSync(out)) {
      if (!items.some((i) => i.name === 'manifests present')) {
        items.push(
          itemOf('manifests present', verdict(false, '', `${out} does not exist: run make synth ENV=${environment}`)),
        );
      }
      continue;
    }
    try {
      items.push(itemOf(check.name, await check.run(context)));
    } catch (err) {
      items.push({ name: check.name, status: 'FAIL', detail: (err as Error).message.split('\n')[0]! });
    }
  }
  return items;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  let environment: string;
  try {
    environment = parseArgs({ args: argv, options: OPTIONS, strict: true }).values.env;
  } catch (err) {
    // An unknown or mistyped flag, or a flag without its value.
    process.stderr.write(`preflight: ${(err as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  const items = await preflight(argv);
  process.stdout.write(`preflight (${environment})\n`);
  for (const i of items) process.stdout.write(`  ${i.status}  ${i.name}: ${i.detail}\n`);
  const count = (st: Status) => items.filter((i) => i.status === st).length;
  process.stdout.write(`${count('PASS')} passed, ${count('FAIL')} failed, ${count('SKIP')} skipped\n`);
  process.exitCode = count('FAIL') > 0 ? 1 : 0;
}

if (require.main === module) void main();
