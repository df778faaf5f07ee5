import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type autocannon from 'autocannon';
import { Client } from 'pg';
import { migrate } from '../service/src/db/migrate';
import { sizingFor } from '../infra/sizing';
import { GUIDE_REQ_PER_SEC_PER_CORE } from './guide';
import { run, type LoadResult } from './runner';

/**
 * `make bench`: six cases side by side in one run on this machine. Servers run
 * on core 0 (`taskset -c 0`), this process — the load generator — on core 1
 * (the Makefile starts it with `taskset -c 1`). Every case: keep-alive
 * connections, a warm-up that is discarded, then a measured run bounded in
 * time and requests. Needs `npm run build`, PostgreSQL at DATABASE_URL (a
 * scratch database is created and dropped) and `redis-server` on the PATH (a
 * private one runs on core 1 for the run).
 */

const ROOT = path.resolve(__dirname, '..');
const RESULTS = path.join(__dirname, 'results');
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP_SECONDS = 2;
const MAX_REQUESTS = 3_000_000;
const UNCACHED_LINKS = 200_000;
const TOKEN = `bench-${randomBytes(12).toString('hex')}`;

interface Server {
  readonly proc: ChildProcess;
  readonly url: string;
}

async function freePort(): Promise<number> {
  const srv = net.createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = net.connect(port, '127.0.0.1', () => {
        sock.destroy();
        resolve(true);
      });
      sock.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on port ${port}`);
}

async function startServer(args: string[], env: NodeJS.ProcessEnv, readyPath: string): Promise<Server> {
  const port = await freePort();
  const proc = spawn('taskset', ['-c', '0', process.execPath, ...args], {
    cwd: ROOT,
    env: { ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await fetch(`${url}${readyPath}`, { redirect: 'manual' }).catch(() => null);
    if (res && res.status < 500) return { proc, url };
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`server ${args.join(' ')} did not start`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stop(s: Server): Promise<void> {
  if (s.proc.exitCode !== null) return;
  const exited = once(s.proc, 'exit');
  s.proc.kill('SIGTERM');
  await exited;
}

/** Requests with their own success check, made fresh for the warm-up and the measured run. */
interface Probe {
  readonly requests: autocannon.Request[];
  failures(): number;
}

function probe(request: autocannon.Request, expect: number): () => Probe {
  return () => {
    let failures = 0;
    return {
      requests: [{ ...request, onResponse: (status: number) => void (status !== expect && failures++) }],
      failures: () => failures,
    };
  };
}

async function measure(title: string, url: string, makeProbe?: () => Probe): Promise<LoadResult> {
  const base = { url, connections: CONNECTIONS, maxRequests: MAX_REQUESTS };
  const warm = makeProbe?.();
  await run({
    ...base,
    title: `${title} (warm-up)`,
    durationSeconds: WARMUP_SECONDS,
    ...(warm ? { requests: warm.requests } : { expect: [302] }),
  });
  const p = makeProbe?.();
  const measured = await run({
    ...base,
    title,
    durationSeconds: SECONDS,
    ...(p ? { requests: p.requests } : { expect: [302] }),
  });
  const r = p ? { ...measured, errors: { ...measured.errors, unexpectedStatus: p.failures() } } : measured;
  const failures = r.errors.socket + r.errors.timeouts + r.errors.unexpectedStatus;
  process.stdout.write(
    `  ${title.padEnd(46)} ${String(r.requests.perSecond).padStart(7)} req/s  p50 ${r.latencyMs.p50} ms  p99 ${r.latencyMs.p99} ms  failures ${failures}\n`,
  );
  return r;
}

async function main(): Promise<void> {
  const admin = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  const dbName = `boltlink_bench_${randomBytes(4).toString('hex')}`;
  const adminClient = new Client({ connectionString: admin });
  await adminClient.connect();
  await adminClient.query(`CREATE DATABASE ${dbName}`);
  const dbUrl = new URL(admin);
  dbUrl.pathname = `/${dbName}`;
  const servers: Server[] = [];
  try {
    await migrate(dbUrl.toString());
    const seed = new Client({ connectionString: dbUrl.toString() });
    await seed.connect();
    await seed.query("INSERT INTO links (slug, url) VALUES ('bench-cached', 'https://example.com/target')");
    await seed.query(
      `INSERT INTO links (slug, url) SELECT 'u' || g, 'https://example.com/u/' || g FROM generate_series(1, ${UNCACHED_LINKS}) AS g`,
    );
    await seed.end();

    // A private Redis on the load generator's core: like a Redis on another host, it never
    // takes CPU from the server under test.
    const redisPort = await freePort();
    const redis = spawn(
      'taskset',
      [
        '-c',
        '1',
        'redis-server',
        '--port',
        String(redisPort),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
      ],
      { stdio: 'ignore' },
    );
    servers.push({ proc: redis, url: `redis://127.0.0.1:${redisPort}` });
    await waitForPort(redisPort);
    const bench = sizingFor('bench');
    const serviceEnv = {
      ...process.env,
      NODE_ENV: 'production',
      DATABASE_URL: dbUrl.toString(),
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      REDIS_KEY_PREFIX: `bench:${randomBytes(4).toString('hex')}:`,
      API_TOKENS: TOKEN,
      PUBLIC_BASE_URL: 'https://sho.rt',
      LOG_LEVEL: 'info',
      // Access logs off while measuring: at tens of thousands of requests a second they are
      // the ingress's job; ACCESS_LOG_SAMPLE_RATE turns them back on per environment.
      ACCESS_LOG_SAMPLE_RATE: '0',
      // The metrics middleware still runs (its cost is measured); only the scrape server is off.
      METRICS_PORT: '0',
      DB_POOL_SIZE: String(bench.dbPoolPerWorker),
      // Case 5 measures the write path, not the per-client limiter (one client sends every create).
      RATE_LIMIT_CREATES: '0',
    };
    process.stdout.write(
      `make bench: servers on core 0, load on core 1, ${CONNECTIONS} keep-alive connections, ${WARMUP_SECONDS} s warm-up + ${SECONDS} s per case\n`,
    );

    const results: Record<string, LoadResult> = {};
    const raw = await startServer(['loadtest/bench/raw-http.js'], process.env, '/x');
    results.rawHttp = await measure('1 raw node:http 302', `${raw.url}/x`);
    await stop(raw);
    const bare = await startServer(['loadtest/bench/bare-express.js'], process.env, '/x');
    results.bareExpress = await measure('2 bare Express 5 302', `${bare.url}/x`);
    await stop(bare);

    const pm2 = await startServer(
      ['node_modules/pm2/bin/pm2-runtime', 'service/ecosystem.config.js'],
      {
        ...serviceEnv,
        BOLTLINK_SIZING: 'bench',
        PM2_INSTANCES: String(bench.pm2Instances),
        PM2_HOME: mkdtempSync(path.join(os.tmpdir(), 'bench-pm2-')),
      },
      '/ready',
    );
    servers.push(pm2);
    results.cachedPm2 = await measure('3 BoltLink cached redirect, 1 PM2 worker', `${pm2.url}/bench-cached`);

    results.create = await measure(
      '5 BoltLink POST /api/links (PostgreSQL write)',
      pm2.url,
      probe(
        {
          method: 'POST',
          path: '/api/links',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          setupRequest: (req) => ({
            ...req,
            body: JSON.stringify({ url: `https://example.com/c/${randomBytes(6).toString('hex')}` }),
          }),
        },
        201,
      ),
    );
    let next = 0;
    results.uncached = await measure(
      '6 BoltLink uncached redirect (PostgreSQL read)',
      pm2.url,
      probe({ method: 'GET', setupRequest: (req) => ({ ...req, path: `/u${(next++ % UNCACHED_LINKS) + 1}` }) }, 302),
    );
    process.stdout.write(
      `    (${next} slugs requested in order over ${UNCACHED_LINKS} links: each read misses the cache unless it wrapped)\n`,
    );
    await stop(pm2);

    // The same heap limit PM2 gives its worker (ecosystem node_args): (3)/(4) then measures PM2 alone.
    const plain = await startServer(
      [`--max-old-space-size=${bench.heapMiBPerWorker}`, 'dist/service/src/main.js'],
      serviceEnv,
      '/ready',
    );
    servers.push(plain);
    results.cachedPlain = await measure('4 BoltLink cached redirect, plain node', `${plain.url}/bench-cached`);
    await stop(plain);

    const rps = (k: string) => results[k]!.requests.perSecond;
    const ratios = {
      cachedPm2OverBareExpress: { value: rps('cachedPm2') / rps('bareExpress'), goal: 0.9 },
      cachedPm2OverPlainNode: { value: rps('cachedPm2') / rps('cachedPlain'), goal: 0.95 },
      cachedPm2OverGuidePerCore: { value: rps('cachedPm2') / GUIDE_REQ_PER_SEC_PER_CORE, goal: 10 },
    };
    process.stdout.write('\nratios (measured side by side in this run)\n');
    for (const [name, r] of Object.entries(ratios)) {
      process.stdout.write(
        `  ${name.padEnd(28)} ${r.value.toFixed(2)}  goal ≥ ${r.goal}  ${r.value >= r.goal ? 'met' : 'MISSED'}\n`,
      );
    }
    const out = {
      measuredAt: new Date().toISOString(),
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
      connections: CONNECTIONS,
      seconds: SECONDS,
      perWorkerReqPerSec: rps('cachedPm2'),
      ratios,
      results,
    };
    mkdirSync(RESULTS, { recursive: true });
    const file = path.join(RESULTS, `bench-${out.measuredAt.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
    copyFileSync(file, path.join(RESULTS, 'bench-latest.json'));
    process.stdout.write(`\nwrote ${path.relative(ROOT, file)} (and bench-latest.json, which make plan reads)\n`);
  } finally {
    await Promise.all(servers.map(stop));
    await adminClient.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await adminClient.end();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
