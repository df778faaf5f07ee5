import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import pino from 'pino';
import { loadConfig, type Config } from '../service/src/config';
import { start, type Running, type StartOptions } from '../service/src/server';

import { ROOT } from './root';

export { ROOT };
export const TOKEN = 'test-token-0123456789abcdef';
export const SECOND_TOKEN = 'second-token-abcdefghijkl';
export const PUBLIC_BASE_URL = 'http://sho.rt';

/**
 * Env for a service under test: the suite's database, the shared Redis under a
 * private prefix. An override of `undefined` removes the key, so the service
 * runs on its default.
 */
export function testEnv(overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string | undefined> = {
    NODE_ENV: 'test',
    DATABASE_URL: process.env.DATABASE_URL!,
    REDIS_URL: process.env.REDIS_URL!,
    REDIS_KEY_PREFIX: `bltest:${randomBytes(4).toString('hex')}:`,
    API_TOKENS: `${TOKEN},${SECOND_TOKEN}`,
    PUBLIC_BASE_URL,
    LOG_LEVEL: 'silent',
    PORT: '0',
    SHUTDOWN_DRAIN_MS: '50',
    METRICS_PORT: '0',
    // Every suite's requests come from 127.0.0.1; the rate-limit tests turn it on with their own limits.
    RATE_LIMIT_CREATES: '0',
    ...overrides,
  };
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

export interface TestService {
  readonly url: string;
  readonly config: Config;
  readonly running: Running;
  stop(): Promise<void>;
}

/** The real service, in this process, on an ephemeral port. */
export async function startService(
  overrides: Record<string, string | undefined> = {},
  options: StartOptions = {},
): Promise<TestService> {
  const config = loadConfig(testEnv(overrides));
  const running = await start(config, pino({ level: 'silent' }), options);
  return {
    url: `http://127.0.0.1:${running.port}`,
    config,
    running,
    stop: () => running.shutdown('test'),
  };
}

export async function createLink(base: string, body: Record<string, unknown>): Promise<Response> {
  return fetch(`${base}/api/links`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

export const uniqueSlug = (tag = 't') => `${tag}-${randomBytes(6).toString('hex')}`;

/** A direct connection to the suite's database, for asserting what was stored. */
export function sql<T extends Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
  return sqlAt<T>(process.env.DATABASE_URL!, text, params);
}

/** One query over its own connection to the database at `url`. */
export async function sqlAt<T extends Record<string, unknown>>(
  url: string,
  text: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text, params)).rows;
  } finally {
    await client.end();
  }
}

export function redisFor(config: Pick<Config, 'REDIS_URL' | 'REDIS_KEY_PREFIX'>, url = config.REDIS_URL): Redis {
  return new Redis(url, { keyPrefix: config.REDIS_KEY_PREFIX, lazyConnect: false });
}

export async function freePort(): Promise<number> {
  const srv = net.createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/**
 * A private redis-server on a spare port (on `host`, pinned to the cores `cpus` lists when given:
 * make bench keeps it off the server's core), for tests that stop Redis (never the shared one).
 */
export async function startPrivateRedis(
  port?: number,
  host = '127.0.0.1',
  cpus?: string,
): Promise<{ port: number; url: string; stop(signal?: NodeJS.Signals): Promise<unknown> }> {
  const p = port ?? (await freePort());
  // Protected mode refuses clients from anywhere but loopback when no password is set: off for a pod network.
  const args = ['--port', String(p), '--bind', host, '--save', '', '--appendonly', 'no', '--protected-mode', 'no'];
  const proc = cpus
    ? spawn('taskset', ['-c', cpus, 'redis-server', ...args], { stdio: 'ignore' })
    : spawn('redis-server', args, { stdio: 'ignore' });
  // Ready when this process answers: not another one on the same address (a run killed before its teardown leaves one).
  const ready = waitFor(async () => {
    if (proc.exitCode !== null) throw new Error(`private Redis on ${host}:${p} exited at start: is the port taken?`);
    const r = new Redis(p, host, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => undefined);
    try {
      await r.connect();
      return /^process_id:(\d+)/m.exec(await r.info('server'))?.[1] === String(proc.pid);
    } catch {
      return false;
    } finally {
      r.disconnect();
    }
  }, 5_000);
  await ready.catch(async (err: unknown) => {
    await stopProcess(proc);
    throw err;
  });
  return { port: p, url: `redis://${host}:${p}`, stop: (signal?: NodeJS.Signals) => stopProcess(proc, signal) };
}

export async function stopProcess(proc: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
  const exited = once(proc, 'exit');
  proc.kill(signal);
  const [code] = await exited;
  return code as number | null;
}

/** Polls `fn` until it returns true or `timeoutMs` passes (then throws). */
export async function waitFor(fn: () => Promise<boolean> | boolean, timeoutMs: number, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A response's JSON body, loosely typed for assertions. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const json = async (res: Response): Promise<any> => res.json();

/** A POST /api/links whose body arrives slowly, on its own connection: in flight for about `ms` milliseconds. */
export function slowCreate(port: number, slug: string, ms: number): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ url: 'https://example.com/slow', slug });
    const req = http.request(
      {
        port,
        host: '127.0.0.1',
        method: 'POST',
        path: '/api/links',
        agent: false,
        headers: {
          authorization: `Bearer ${TOKEN}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode! }));
      },
    );
    req.on('error', reject);
    req.write(body.slice(0, 10));
    setTimeout(() => req.end(body.slice(10)), ms);
  });
}

/** Resolves once `${base}/ready` answers 200. */
export function waitReady(base: string, timeoutMs = 20_000): Promise<void> {
  return waitFor(async () => (await fetch(`${base}/ready`).catch(() => null))?.status === 200, timeoutMs, 100);
}

/** `node <args>` as a real child process that will serve on `port`, its output collected. */
export function spawnNode(args: string[], env: NodeJS.ProcessEnv, port: number) {
  const proc = spawn(process.execPath, args, {
    env,
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout.on('data', (d) => (output += d));
  proc.stderr.on('data', (d) => (output += d));
  return { proc, base: `http://127.0.0.1:${port}`, port, output: () => output };
}

/** `spawnNode`, resolved once ready. */
export async function spawnServing(args: string[], env: NodeJS.ProcessEnv, port: number) {
  const spawned = spawnNode(args, env, port);
  await waitReady(spawned.base);
  return spawned;
}
