import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  appendFileSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { freePort, waitFor } from './service';

/** One request of a load run: when it started (ms since the run began), how long it took, and what came back. */
export interface Outcome {
  readonly conn: number;
  readonly t: number;
  readonly ms: number;
  readonly status?: number;
  readonly error?: string;
}

export interface LoadOptions {
  readonly base: string;
  /** The path of the `i`-th request on connection `conn`. */
  readonly path: (i: number, conn: number) => string;
  readonly connections: number;
  /** Both bounds hold: the run stops at whichever comes first. */
  readonly durationMs: number;
  readonly maxRequests: number;
  readonly timeoutMs: number;
  /** Stop issuing new requests once this returns true (requests in flight still finish). */
  readonly stopWhen?: () => boolean;
  /** Each connection waits this long after each answer before its next request: a light load. @default 0 */
  readonly gapMs?: number;
  readonly onStart?: (agents: readonly http.Agent[]) => Promise<void>;
  /** Each connection's agent (one socket each): an https.Agent for a TLS edge. @default a keep-alive http.Agent */
  readonly agent?: () => http.Agent;
}

/**
 * A bounded keep-alive load: `connections` clients, each with its own agent
 * holding one socket and issuing requests one after another, so every
 * request's outcome is known and can be tied to the worker that holds its
 * connection.
 */
export async function keepAliveLoad(o: LoadOptions): Promise<{ outcomes: Outcome[]; startedAt: number }> {
  const agents = Array.from(
    { length: o.connections },
    o.agent ?? (() => new http.Agent({ keepAlive: true, maxSockets: 1 })),
  );
  await o.onStart?.(agents);
  const outcomes: Outcome[] = [];
  const started = Date.now();
  let issued = 0;
  const more = () => Date.now() - started < o.durationMs && issued < o.maxRequests && !o.stopWhen?.();
  await Promise.all(
    agents.map(async (agent, conn) => {
      for (let i = 0; more(); i++) {
        issued++;
        const t = Date.now() - started;
        const { status, error } = await request(`${o.base}${o.path(i, conn)}`, agent, o.timeoutMs);
        outcomes.push({ conn, t, ms: Date.now() - started - t, status, error });
        if (o.gapMs) await new Promise((resolve) => setTimeout(resolve, o.gapMs));
      }
    }),
  );
  for (const a of agents) a.destroy();
  return { outcomes, startedAt: started };
}

/** One request over http or https (by the URL's scheme): status, headers and body, or the error's code. */
export function request(
  url: string,
  agent: http.Agent | undefined,
  timeoutMs: number,
  init: { method?: string; body?: string; headers?: Record<string, string> } = {},
): Promise<{ status?: number; error?: string; body?: string; headers?: http.IncomingHttpHeaders }> {
  const { method = 'GET', body, headers = {} } = init;
  const client = url.startsWith('https:') ? https : http;
  return new Promise((resolve) => {
    const req = client.request(url, { agent, method, headers, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, body: text, headers: res.headers }));
      res.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    req.end(body);
  });
}

/** Requests that did not get the answer a healthy service gives: any error, timeout or 5xx. */
export const failures = (outcomes: readonly Outcome[]) =>
  outcomes.filter((o) => o.error !== undefined || (o.status ?? 0) >= 500);

/** "ECONNRESET ×3, 503 ×2": what a set of outcomes came back as. */
export function kinds(outcomes: readonly Outcome[]): string {
  const counts = new Map<string, number>();
  for (const o of outcomes) {
    const k = o.error ?? String(o.status);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return [...counts].map(([k, n]) => `${k} ×${n}`).join(', ') || 'none';
}

/** Appends one summary line for `make reliability` (RELIABILITY_SUMMARY names the file). */
export function reportFault(line: string): void {
  const file = process.env.RELIABILITY_SUMMARY;
  if (file) appendFileSync(file, `${line}\n`);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** Polls `fn` every 50 ms and resolves with the ms it took to return true. */
export async function timeUntil(fn: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = Date.now();
  await waitFor(fn, timeoutMs, 50);
  return Date.now() - started;
}

function postgresBinDir(): string {
  if (process.env.PG_BINDIR) return process.env.PG_BINDIR;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  if (versions.length === 0) throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql (set PG_BINDIR)');
  return path.join(root, versions[0]!, 'bin');
}

export interface PrivatePostgresOptions {
  /** The address it listens on. @default '127.0.0.1' */
  readonly host?: string;
  /** A network (CIDR) whose clients it trusts besides loopback, e.g. a test cluster's pods. */
  readonly trust?: string;
  /** The port it listens on (a test cluster's NetworkPolicy admits the chart's database port). @default a spare one */
  readonly port?: number;
  /** The postgres user's password, then required of every client (SCRAM). @default none: every client trusted */
  readonly password?: string;
}

/**
 * A private PostgreSQL on a spare port with its own data directory, for
 * tests that stop the database (never the shared one). As root, it runs as
 * the `postgres` user (PostgreSQL refuses root).
 */
export async function startPrivatePostgres(options: PrivatePostgresOptions = {}) {
  const host = options.host ?? '127.0.0.1';
  const bin = postgresBinDir();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'boltlink-pg-'));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) chownSync(dir, Number(execFileSync('id', ['-u', 'postgres']).toString()), 0);
  const as = (cmd: string, args: string[]): [string, string[]] =>
    asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
  const data = path.join(dir, 'data');
  const pwfile = path.join(dir, 'pwfile');
  if (options.password) writeFileSync(pwfile, `${options.password}\n`, { mode: 0o644 });
  const auth = options.password ? ['-A', 'scram-sha-256', `--pwfile=${pwfile}`] : ['-A', 'trust'];
  const [initCmd, initArgs] = as(path.join(bin, 'initdb'), ['-D', data, ...auth, '-U', 'postgres', '--no-sync']);
  execFileSync(initCmd, initArgs, { stdio: 'ignore' });
  if (options.trust) appendFileSync(path.join(data, 'pg_hba.conf'), `host all all ${options.trust} trust\n`);
  const port = options.port ?? (await freePort());
  const user = options.password ? `postgres:${options.password}` : 'postgres';
  const url = `postgresql://${user}@${host}:${port}/postgres`;
  let proc: ChildProcess | undefined;

  /** This instance answers (not another one on the same address: a run killed before its teardown leaves one). */
  const reachable = async () => {
    const c = new Client({ connectionString: url, connectionTimeoutMillis: 500 });
    c.on('error', () => undefined);
    try {
      await c.connect();
      const { rows } = await c.query<{ data_directory: string }>('SHOW data_directory');
      return rows[0]?.data_directory === data;
    } catch {
      return false;
    } finally {
      await c.end().catch(() => undefined);
    }
  };
  const start = async () => {
    const [cmd, args] = as(path.join(bin, 'postgres'), [
      '-D',
      data,
      '-p',
      String(port),
      '-c',
      `listen_addresses=${host}`,
      '-c',
      `unix_socket_directories=${dir}`,
      '-c',
      'fsync=off',
    ]);
    const started = spawn(cmd, args, { stdio: 'ignore' });
    proc = started;
    await waitFor(
      async () => {
        if (started.exitCode !== null) {
          throw new Error(
            `private PostgreSQL on ${host}:${port} exited at start (code ${started.exitCode}): is the port taken?`,
          );
        }
        return reachable();
      },
      15_000,
      100,
    );
  };
  /** Fast shutdown (SIGINT to the postmaster): sessions are terminated, as in a failover or restart. */
  const stop = async () => {
    const postmaster = path.join(data, 'postmaster.pid');
    if (!existsSync(postmaster)) return;
    const pid = Number(readFileSync(postmaster, 'utf8').split('\n')[0]);
    process.kill(pid, 'SIGINT');
    await waitFor(() => !existsSync(postmaster), 15_000, 50);
    await new Promise((r) => (proc?.exitCode !== null ? r(null) : proc.once('exit', r)));
  };
  /** This instance's postmaster and its children only (never the shared server's processes). */
  const processes = () => {
    const postmaster = readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]!;
    const children = spawnSync('pgrep', ['-P', postmaster], { encoding: 'utf8' }).stdout.split('\n');
    return [postmaster, ...children].filter((p) => p.length > 0).map(Number);
  };
  const signalAll = (signal: NodeJS.Signals) => {
    for (const pid of processes()) process.kill(pid, signal);
  };
  let frozen = false;
  // runuser stops itself when its child stops (as su does) and must be continued too.
  const thaw = () => {
    if (!frozen) return;
    signalAll('SIGCONT');
    if (proc?.pid !== undefined && proc.exitCode === null) process.kill(proc.pid, 'SIGCONT');
    frozen = false;
  };
  await start().catch((err: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  return {
    port,
    url,
    dbUrl: (db: string) => `postgresql://${user}@${host}:${port}/${db}`,
    start,
    stop,
    /** SIGSTOP: connections stay open and nothing answers, as in a frozen host or a network partition. */
    freeze() {
      signalAll('SIGSTOP');
      frozen = true;
    },
    thaw,
    async destroy() {
      thaw();
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
