import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { createScratchDatabase, withClient } from '../../test-support/databases';
import { freePort, json, SECOND_TOKEN, slowCreate, sql, TOKEN, uniqueSlug, waitFor } from '../../test-support/service';
import { APP_UID, PM2_APP_NAME } from '../../common/contract';
import { sizingFor, type EnvironmentName } from '../../common/sizing';
import { container, envValue, ROOT, synth } from '../../test-support/synth';

/**
 * `make image-test`: builds the real Dockerfile with `make image` and runs the
 * container read-only, with the sizing's CPU and memory limits, on the host
 * network against the suite's PostgreSQL and Redis. infra/image-test/engine.sh
 * (run first by make) provides the engine and, offline, a stand-in base image.
 */
const docker = (...args: string[]) => execFileSync('docker', args, { encoding: 'utf8' }).trim();
const TAGS: Record<string, string> = { staging: 'image-test-staging', prod: 'image-test-prod' };
const containers: string[] = [];

function buildImage(env: EnvironmentName): string {
  execFileSync('make', ['--no-print-directory', 'image', `ENV=${env}`, `TAG=${TAGS[env]}`], {
    cwd: ROOT,
    stdio: 'ignore',
  });
  return `boltlink-backend:${TAGS[env]}`;
}

/** The image's filesystem as `docker export` writes it, and the paths in it. */
function exported(image: string): { tar: Buffer; files: string[] } {
  const id = docker('create', image);
  try {
    const tar = execFileSync('docker', ['export', id], { maxBuffer: 2 * 1024 ** 3 });
    const files = execFileSync('tar', ['-t'], { input: tar, maxBuffer: 256 * 1024 ** 2, encoding: 'utf8' }).split('\n');
    return { tar, files };
  } finally {
    docker('rm', id);
  }
}

async function runContainer(image: string, env: EnvironmentName, cpus: number, extra: string[] = []) {
  const s = sizingFor(env);
  const port = await freePort();
  const metricsPort = await freePort();
  const name = `boltlink-it-${randomBytes(4).toString('hex')}`;
  containers.push(name);
  docker(
    'run',
    '-d',
    '--name',
    name,
    '--network',
    'host',
    `--cpus=${cpus}`,
    `--memory=${s.memoryLimitMiB}m`,
    '--read-only',
    '--tmpfs',
    `/tmp:rw,size=${s.scratchMiB}m,mode=1777`,
    '-e',
    'NODE_ENV=production',
    '-e',
    'PUBLIC_BASE_URL=https://sho.rt',
    '-e',
    `PORT=${port}`,
    '-e',
    `METRICS_PORT=${metricsPort}`,
    '-e',
    `DATABASE_URL=${process.env.DATABASE_URL}`,
    '-e',
    `REDIS_URL=${process.env.REDIS_URL}`,
    '-e',
    `REDIS_KEY_PREFIX=imgtest:${name}:`,
    '-e',
    `API_TOKENS=${TOKEN}`,
    '-e',
    'CLICK_FLUSH_INTERVAL_MS=600000',
    ...extra,
    image,
  );
  const base = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${base}/ready`).catch(() => null))?.status === 200, 60_000, 250);
  return { name, base, port, metricsPort, sizing: s };
}

let staging: string;
let prod: string;
beforeAll(() => {
  staging = buildImage('staging');
  prod = buildImage('prod');
}, 30 * 60_000);
afterAll(() => {
  for (const c of containers) spawnSync('docker', ['rm', '-f', c]);
});

describe('the image', () => {
  it('labels the baked worker count, equal to the manifest and the sizing', () => {
    for (const [env, image] of [
      ['staging', staging],
      ['prod', prod],
    ] as const) {
      const labels = JSON.parse(docker('image', 'inspect', '-f', '{{json .Config.Labels}}', image));
      const baked = JSON.parse(docker('image', 'inspect', '-f', '{{json .Config.Env}}', image)) as string[];
      const manifest = envValue(container(synth(env)), 'PM2_INSTANCES').value;
      expect(labels['boltlink.workers']).toBe(manifest);
      expect(baked).toContain(`PM2_INSTANCES=${manifest}`);
      expect(Number(manifest)).toBe(sizingFor(env).pm2Instances);
    }
  });

  it('reports its size and the size the app adds over the base', () => {
    const base = /^ARG NODE_IMAGE=(.+)$/m.exec(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'))![1]!;
    const size = (ref: string) => Number(docker('image', 'inspect', '-f', '{{.Size}}', ref));
    const addedMB = (size(staging) - size(base)) / 1e6;
    process.stdout.write(
      `image ${staging}: ${(size(staging) / 1e6).toFixed(1)} MB, base ${(size(base) / 1e6).toFixed(1)} MB, app layers ${addedMB.toFixed(1)} MB\n`,
    );
    expect(addedMB).toBeGreaterThan(0);
    expect(addedMB).toBeLessThanOrEqual(150);
  });

  it('holds no secret: no test token, .env, .npmrc, key or test file in its filesystem, env or history', () => {
    const needles = [TOKEN, SECOND_TOKEN];
    const { tar, files: all } = exported(prod);
    const files = all.filter((f) => f.startsWith('app/'));
    expect(needles.filter((n) => tar.includes(n))).toEqual([]);
    expect(files.length).toBeGreaterThan(100);
    expect(files.filter((f) => /(^|\/)(\.env(\..*)?|\.npmrc|[^/]+\.(pem|key))$|^app\/service\/test\//.test(f))).toEqual(
      [],
    );
    const config = docker('image', 'inspect', prod) + docker('history', '--no-trunc', prod);
    expect(needles.filter((n) => config.includes(n))).toEqual([]);
    expect(config).not.toMatch(/API_TOKENS=|DATABASE_URL=|REDIS_URL=/);
  });

  it('installs what the service runs and nothing that only synth, the tests or the load runner use', () => {
    // package-lock.json marks every package reachable only from devDependencies `dev`, and those reachable
    // only through optional edges `optional`/`devOptional` (the Dockerfile omits both).
    const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')).packages as Record<
      string,
      { dev?: boolean; optional?: boolean; devOptional?: boolean }
    >;
    const installed = new Set(
      exported(prod)
        .files.filter((f) => /^app\/node_modules\/.+\/package\.json$/.test(f))
        .map((f) => f.slice('app/'.length, -'/package.json'.length)),
    );
    const entries = Object.entries(lock).filter(([key]) => key.startsWith('node_modules/'));
    const devOnly = entries.filter(([, e]) => e.dev).map(([key]) => key);
    const runtime = entries.filter(([, e]) => !e.dev && !e.optional && !e.devOptional).map(([key]) => key);
    process.stdout.write(
      `image ${prod}: ${runtime.length} runtime packages, ${devOnly.length} dev-only packages left out\n`,
    );
    expect(devOnly).toEqual(expect.arrayContaining(['node_modules/@grafana/grafana-foundation-sdk']));
    expect(devOnly.filter((key) => installed.has(key))).toEqual([]);
    expect(runtime.filter((key) => !installed.has(key))).toEqual([]);
  });

  it('carries the migration command the cluster runs', async () => {
    const db = await createScratchDatabase(process.env.BOLTLINK_TEST_ADMIN_URL!, 'boltlink_img');
    try {
      const r = spawnSync(
        'docker',
        [
          'run',
          '--rm',
          '--network',
          'host',
          '--read-only',
          '-e',
          `DATABASE_URL=${db.url}`,
          '--entrypoint',
          'node',
          staging,
          'dist/service/src/db/migrate-cli.js',
        ],
        { encoding: 'utf8' },
      );
      expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
      const finished = await withClient(
        db.url,
        async (c) =>
          (await c.query('SELECT count(*)::int AS n FROM "_prisma_migrations" WHERE finished_at IS NOT NULL')).rows[0]
            .n,
      );
      expect(finished).toBeGreaterThan(0);
    } finally {
      await db.drop();
    }
  });
});

describe('the container, sized as the staging manifest', () => {
  it('runs exactly the baked workers as the non-root user, healthy, read-only', async () => {
    const s = sizingFor('staging');
    const c = await runContainer(staging, 'staging', s.cpuLimitMilli / 1000);
    const workers = JSON.parse(docker('exec', c.name, 'npx', 'pm2', 'jlist')) as {
      pm2_env: { status: string; exec_mode: string };
    }[];
    expect(workers.map((w) => [w.pm2_env.status, w.pm2_env.exec_mode])).toEqual(
      Array(s.pm2Instances).fill(['online', 'cluster_mode']),
    );
    const health = await fetch(`${c.base}/health`);
    expect(health.status).toBe(200);
    expect((await json(health)).sizing).toMatchObject({
      workers: s.pm2Instances,
      cpuQuota: s.cpuLimitMilli / 1000,
      memoryLimitMiB: s.memoryLimitMiB,
      status: 'ok',
    });
    expect(docker('exec', c.name, 'sh', '-c', "grep '^Uid:' /proc/1/status")).toMatch(
      new RegExp(`^Uid:\\s+${APP_UID}\\s+${APP_UID}`),
    );
    expect(spawnSync('docker', ['exec', c.name, 'touch', '/app/x']).status).not.toBe(0);
    const metrics = await (await fetch(`http://127.0.0.1:${c.metricsPort}/metrics`)).text();
    expect(metrics).toContain(`boltlink_sizing_workers ${s.pm2Instances}`);
  });

  it('on docker stop completes the in-flight request, flushes clicks and exits 0 within the grace period', async () => {
    const s = sizingFor('staging');
    const c = await runContainer(staging, 'staging', s.cpuLimitMilli / 1000);
    const clicked = uniqueSlug('img');
    const created = await fetch(`${c.base}/api/links`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: 'https://example.com/img', slug: clicked }),
    });
    expect(created.status).toBe(201);
    // New connections, so PM2 hands them to every worker: each must serve, not only the one /ready reached.
    const redirects: number[] = [];
    for (let i = 0; i < 4; i++)
      redirects.push(
        (await fetch(`${c.base}/${clicked}`, { redirect: 'manual', headers: { connection: 'close' } })).status,
      );
    expect(redirects).toEqual([302, 302, 302, 302]);
    const slow = uniqueSlug('imgslow');
    const inFlight = slowCreate(c.port, slow, 1_500);
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    // Asynchronously: a blocking execFileSync would stall this process's slow client too.
    await promisify(execFile)('docker', ['stop', '-t', String(s.terminationGracePeriodSeconds), c.name]);
    const tookMs = Date.now() - started;
    expect((await inFlight).status).toBe(201);
    expect(docker('inspect', '-f', '{{.State.ExitCode}} {{.State.OOMKilled}}', c.name)).toBe('0 false');
    expect(tookMs).toBeLessThan(s.terminationGracePeriodSeconds * 1000);
    expect(await sql('SELECT clicks FROM links WHERE slug = $1', [clicked])).toEqual([{ clicks: '4' }]);
    expect(await sql('SELECT 1 AS ok FROM links WHERE slug = $1', [slow])).toEqual([{ ok: 1 }]);
  });
});

describe('the runtime guard', () => {
  it('reports a mismatch when the prod image (4 workers) runs with a 2-CPU quota', async () => {
    const c = await runContainer(prod, 'prod', 2);
    const body = await json(await fetch(`${c.base}/health`));
    expect(body.status).toBe('healthy');
    expect(body.sizing).toMatchObject({ workers: sizingFor('prod').pm2Instances, cpuQuota: 2, status: 'mismatch' });
    expect(body.sizing.problems[0]).toContain('workers but a CPU quota of 2 CPUs');
    expect(docker('logs', c.name)).toContain('container sizing mismatch');
  });
});

describe('docker-compose.pm2.yml', () => {
  it('is valid and brings up the migration and a healthy backend with the sized workers', async () => {
    const s = sizingFor('staging');
    const port = await freePort();
    const composeEnv = Object.fromEntries(
      execFileSync('npx', ['--no-install', 'tsx', 'infra/build-args.ts', '--env', 'staging', '--compose-env'], {
        cwd: ROOT,
        encoding: 'utf8',
        env: { ...process.env, TAG: TAGS.staging, IMAGE: '' },
      })
        .split('\n')
        .filter((l) => /^[A-Z_]+=/.test(l))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    // PostgreSQL and Redis images cannot be pulled here: run the app services against the suite's own.
    const env = {
      ...process.env,
      ...composeEnv,
      BOLTLINK_PORT: String(port),
      BOLTLINK_METRICS_PORT: String(await freePort()),
      BOLTLINK_DATABASE_URL: process.env.DATABASE_URL!,
      BOLTLINK_REDIS_URL: process.env.REDIS_URL!,
      API_TOKENS: TOKEN,
    };
    const project = `blt${randomBytes(3).toString('hex')}`;
    const compose = (...args: string[]) =>
      promisify(execFile)('docker-compose', ['-p', project, '-f', 'docker-compose.pm2.yml', ...args], {
        cwd: ROOT,
        env,
      });
    try {
      const config = (await compose('config')).stdout;
      expect(config).toContain(`cpus: ${s.cpuLimitMilli / 1000}`);
      await compose('up', '--no-deps', 'migrate');
      await compose('up', '-d', '--no-deps', 'backend');
      await waitFor(
        () => docker('inspect', '-f', '{{.State.Health.Status}}', 'boltlink-backend') === 'healthy',
        90_000,
        1_000,
      );
      const status = docker('exec', 'boltlink-backend', 'npx', 'pm2', 'status');
      expect(status.split('\n').filter((l) => l.includes(PM2_APP_NAME) && l.includes('online'))).toHaveLength(
        s.pm2Instances,
      );
      expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
    } finally {
      await compose('down').catch(() => undefined);
    }
  });
});
