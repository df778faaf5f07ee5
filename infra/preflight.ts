import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { ConfigError, loadConfig } from '../service/src/config';
import { pssViolations } from './pod-security';
import { checkManifests, type K8sObject } from './rules';
import { ENVIRONMENTS, SizingError, sizingFor, type Sizing } from './sizing';

/**
 * `make preflight ENV=prod [URL=https://…] [ENV_FILE=secrets.env]`: walks the
 * operations guide's production checklist against one environment and prints
 * PASS, FAIL or SKIP per item (SKIP: the item needs an input that was not
 * given). Exit status 1 when any item fails.
 *
 *   --env NAME        sizing environment (default prod)
 *   --out DIR         the manifests to check (default charts-out/, or charts-out.NAME/)
 *   --url URL         a deployed service: /health and /ready must answer 200
 *   --env-file FILE   the Secrets' values as KEY=value lines (DATABASE_URL, REDIS_URL,
 *                     API_TOKENS), checked with the ConfigMap by the service's own config parser
 *   --results DIR     where make bench / npm run loadtest write (default loadtest/results)
 */

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are plain JSON */
type Status = 'PASS' | 'FAIL' | 'SKIP';
interface Item {
  readonly name: string;
  readonly status: Status;
  readonly detail: string;
}

const ROOT = path.resolve(__dirname, '..');
/** How long `--url` checks wait for /health and /ready. */
const PROBE_TIMEOUT_MS = 5_000;

function option(argv: readonly string[], name: string): string | undefined {
  const at = argv.indexOf(name);
  return at >= 0 ? argv[at + 1] : undefined;
}

function readObjects(dir: string): K8sObject[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => parseAllDocuments(readFileSync(path.join(dir, f), 'utf8')).map((d) => d.toJSON() as K8sObject));
}

const item = (name: string, ok: boolean, pass: string, fail: string): Item => ({
  name,
  status: ok ? 'PASS' : 'FAIL',
  detail: ok ? pass : fail,
});

/** Runs an item's check; an exception fails the item with its message instead of stopping the walk. */
function attempt(name: string, check: () => Item): Item {
  try {
    return check();
  } catch (err) {
    return { name, status: 'FAIL', detail: (err as Error).message.split('\n')[0]! };
  }
}

function loadEcosystem(environment: string, s: Sizing): any {
  const file = path.join(ROOT, 'service/ecosystem.config.js');
  const saved = { BOLTLINK_SIZING: process.env.BOLTLINK_SIZING, PM2_INSTANCES: process.env.PM2_INSTANCES };
  process.env.BOLTLINK_SIZING = environment;
  process.env.PM2_INSTANCES = String(s.pm2Instances);
  try {
    delete require.cache[require.resolve(file)];
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- PM2 reads this CommonJS file the same way, env first
    return require(file).apps[0];
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

function manifestsCurrent(environment: string, out: string): Item {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'preflight-'));
  try {
    const r = spawnSync('npx', ['--no-install', 'cdk8s', 'synth', '--no-check-upgrade', '--output', tmp], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, BOLTLINK_ENV: environment },
    });
    if (r.status !== 0) return item('manifests current', false, '', `synth failed: ${r.stderr.trim().split('\n')[0]}`);
    const fresh = readdirSync(tmp).sort();
    const stale = fresh.filter(
      (f) =>
        !existsSync(path.join(out, f)) ||
        readFileSync(path.join(out, f), 'utf8') !== readFileSync(path.join(tmp, f), 'utf8'),
    );
    const extra = readdirSync(out).filter((f) => !fresh.includes(f));
    return item(
      'manifests current',
      stale.length === 0 && extra.length === 0,
      `${out} equals a fresh synth (${fresh.join(', ')})`,
      `${out} differs from a fresh synth: ${[...stale, ...extra].join(', ')}; run make synth ENV=${environment}`,
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function health(url: string | undefined): Promise<Item[]> {
  if (!url) return [{ name: 'health checks passing', status: 'SKIP', detail: 'no --url given' }];
  const get = async (p: string) => {
    try {
      const res = await fetch(new URL(p, url), { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
      return `${res.status} ${(await res.text()).slice(0, 200)}`;
    } catch (err) {
      return `unreachable (${(err as Error).message})`;
    }
  };
  const [h, r] = [await get('/health'), await get('/ready')];
  return [
    item('health checks passing', h.startsWith('200 '), `GET /health → ${h}`, `GET /health → ${h}`),
    item('ready for traffic', r.startsWith('200 '), `GET /ready → ${r}`, `GET /ready → ${r}`),
  ];
}

export async function preflight(argv: readonly string[]): Promise<Item[]> {
  const environment = option(argv, '--env') ?? 'prod';
  if (!(ENVIRONMENTS as string[]).includes(environment)) {
    return [
      { name: 'environment', status: 'FAIL', detail: `'${environment}' is not one of ${ENVIRONMENTS.join(', ')}` },
    ];
  }
  const out = path.resolve(
    option(argv, '--out') ?? path.join(ROOT, environment === 'prod' ? 'charts-out' : `charts-out.${environment}`),
  );
  const results = path.resolve(option(argv, '--results') ?? path.join(ROOT, 'loadtest/results'));
  const items: Item[] = [];

  let s: Sizing;
  try {
    s = sizingFor(environment);
    items.push({
      name: 'sizing valid',
      status: 'PASS',
      detail: `${s.pm2Instances} workers, ${s.memoryLimitMiB} MiB per pod`,
    });
  } catch (err) {
    const detail = err instanceof SizingError ? err.message : String(err);
    return [{ name: 'sizing valid', status: 'FAIL', detail }];
  }

  const built = ['dist/service/src/main.js', 'dist/infra/sizing.js'].map((f) => path.join(ROOT, f));
  items.push(
    item(
      'build (npm run build)',
      built.every((f) => existsSync(f)) &&
        statSync(built[1]!).mtimeMs >= statSync(path.join(ROOT, 'infra/sizing.ts')).mtimeMs,
      'dist/ holds the service and a sizing no older than infra/sizing.ts',
      'dist/ is missing or older than infra/sizing.ts: run npm run build',
    ),
  );

  items.push(
    attempt('PM2 ecosystem reviewed', () => {
      const app = loadEcosystem(environment, s);
      return item(
        'PM2 ecosystem reviewed',
        app.exec_mode === 'cluster' && app.instances === s.pm2Instances && app.instances !== 'max',
        `cluster mode, ${app.instances} instances from the sizing (never 'max')`,
        `exec_mode ${app.exec_mode}, instances ${app.instances}; the sizing says ${s.pm2Instances}`,
      );
    }),
  );
  items.push(
    attempt('heap and memory restart consistent with the sizing', () => {
      const app = loadEcosystem(environment, s);
      const heap = Number(/--max-old-space-size=(\d+)/.exec((app.node_args ?? []).join(' '))?.[1]);
      const restart = Number(/^(\d+)M$/.exec(app.max_memory_restart ?? '')?.[1]);
      const perWorker = s.memoryMiBPerWorker;
      return item(
        'heap and memory restart consistent with the sizing',
        heap === s.heapMiBPerWorker && restart === s.maxMemoryRestartMiB && heap < restart && restart <= perWorker,
        `heap ${heap} MiB < restart ${restart} MiB <= ${perWorker} MiB per worker of the ${s.memoryLimitMiB} MiB limit`,
        `heap ${heap} MiB, restart ${restart} MiB, ${perWorker} MiB per worker; the sizing says heap ${s.heapMiBPerWorker}, restart ${s.maxMemoryRestartMiB}`,
      );
    }),
  );

  if (!existsSync(out)) {
    items.push({
      name: 'manifests present',
      status: 'FAIL',
      detail: `${out} does not exist: run make synth ENV=${environment}`,
    });
    items.push(...(await health(option(argv, '--url'))));
    return items;
  }
  const objects = readObjects(out);
  const deployment: any = objects.find((o) => o.kind === 'Deployment');
  const configMap: any = objects.find((o) => o.kind === 'ConfigMap');
  const c = deployment?.spec?.template?.spec?.containers?.[0];
  items.push(manifestsCurrent(environment, out));
  items.push(
    attempt('workers match the pod CPU', () => {
      const workers = Number(c.env.find((e: any) => e.name === 'PM2_INSTANCES')?.value);
      const limit = c.resources.limits.cpu as string;
      const cores = limit.endsWith('m') ? Number(limit.slice(0, -1)) / 1000 : Number(limit);
      return item(
        'workers match the pod CPU',
        workers === s.pm2Instances && cores === s.cpuLimitMilli / 1000 && workers <= Math.ceil(cores),
        `${workers} workers for a ${limit} CPU limit`,
        `${workers} workers, CPU limit ${limit}; the sizing says ${s.pm2Instances} workers, ${s.cpuLimitMilli}m`,
      );
    }),
  );
  items.push(
    attempt('NODE_ENV=production', () =>
      item(
        'NODE_ENV=production',
        configMap.data.NODE_ENV === 'production',
        'in the ConfigMap',
        `ConfigMap NODE_ENV is ${configMap.data.NODE_ENV}`,
      ),
    ),
  );
  items.push(
    attempt('ALLOWED_ORIGINS set for CORS', () => {
      const origins = String(configMap.data.ALLOWED_ORIGINS ?? '');
      return item(
        'ALLOWED_ORIGINS set for CORS',
        origins.length > 0 && !origins.split(',').includes('*'),
        origins,
        origins ? `'*' is refused in production` : 'empty: set BOLTLINK_ALLOWED_ORIGINS and run make synth',
      );
    }),
  );
  items.push(
    attempt('logs and PM2 state writable', () => {
      const home = configMap.data.PM2_HOME as string;
      const mounts = (c.volumeMounts ?? []).map((m: any) => m.mountPath as string);
      const under = mounts.find((m: string) => home === m || home.startsWith(`${m}/`));
      return item(
        'logs and PM2 state writable',
        c.securityContext?.readOnlyRootFilesystem !== true || under !== undefined,
        `PM2_HOME ${home} is on the writable volume at ${under}; logs go to stdout`,
        `PM2_HOME ${home} is on the read-only root filesystem`,
      );
    }),
  );
  items.push(
    attempt('cluster rules and restricted Pod Security', () => {
      const v = [...checkManifests(objects, { environment }), ...pssViolations(deployment.spec.template)];
      return item('cluster rules and restricted Pod Security', v.length === 0, 'no violation', v.join('; '));
    }),
  );
  items.push(
    attempt('monitoring configured', () => {
      const a = deployment.spec.template.metadata.annotations ?? {};
      return item(
        'monitoring configured',
        a['prometheus.io/scrape'] === 'true' &&
          (c.ports ?? []).some((p: any) => String(p.containerPort) === a['prometheus.io/port']),
        `Prometheus scrapes :${a['prometheus.io/port']}${a['prometheus.io/path']}`,
        'no Prometheus scrape annotations on a container port',
      );
    }),
  );

  const secretsFile = option(argv, '--env-file');
  if (!secretsFile) {
    items.push({
      name: 'config present and valid',
      status: 'SKIP',
      detail: 'no --env-file with the Secrets’ values given',
    });
  } else {
    items.push(
      attempt('config present and valid', () => {
        const literal = Object.fromEntries(
          (c.env ?? []).filter((e: any) => e.value !== undefined).map((e: any) => [e.name, e.value]),
        );
        const env = { ...configMap.data, ...literal, ...parseEnv(readFileSync(secretsFile, 'utf8')) };
        try {
          loadConfig(env);
          return item('config present and valid', true, 'ConfigMap + Secrets parse with the service’s config', '');
        } catch (err) {
          if (err instanceof ConfigError) return item('config present and valid', false, '', err.problems.join('; '));
          throw err;
        }
      }),
    );
  }

  items.push(...(await health(option(argv, '--url'))));

  const bench = path.join(results, 'bench-latest.json');
  items.push(
    existsSync(bench)
      ? { name: 'load test run', status: 'PASS', detail: `${bench} from ${statSync(bench).mtime.toISOString()}` }
      : {
          name: 'load test run',
          status: 'FAIL',
          detail: `no ${bench}: run make bench (or npm run loadtest against the cluster)`,
        },
  );

  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  for (const [name, heading] of [
    ['backup plan for database/Redis failure', '## Failure modes'],
    ['rollback procedure documented', '### Rollback'],
  ] as const) {
    items.push(
      item(
        name,
        readme.includes(heading),
        `README.md: ${heading.replace(/^#+ /, '')}`,
        `README.md has no '${heading}'`,
      ),
    );
  }
  return items;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const items = await preflight(argv);
  process.stdout.write(`preflight (${option(argv, '--env') ?? 'prod'})\n`);
  for (const i of items) process.stdout.write(`  ${i.status}  ${i.name}: ${i.detail}\n`);
  const count = (st: Status) => items.filter((i) => i.status === st).length;
  process.stdout.write(`${count('PASS')} passed, ${count('FAIL')} failed, ${count('SKIP')} skipped\n`);
  process.exitCode = count('FAIL') > 0 ? 1 : 0;
}

if (require.main === module) void main();
