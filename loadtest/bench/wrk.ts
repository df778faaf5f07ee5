import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';

/** What a case sends: one path every time, a trace of paths, or the create case's POST. */
export type WrkLoad =
  | { readonly path: string }
  | { readonly trace: string; readonly wrap: boolean }
  | { readonly create: string; readonly token: string };

/** One wrk run's numbers. */
export interface WrkResult {
  readonly requests: { readonly total: number; readonly perSecond: number };
  readonly latencyMs: { readonly avg: number; readonly p50: number; readonly p99: number; readonly max: number };
  /** Socket errors, timeouts, and statuses above 399 (wrk counts no others). */
  readonly errors: { readonly socket: number; readonly timeouts: number; readonly status: number };
}

const SCRIPT = path.join(__dirname, 'wrk-trace.lua');
/** wrk is bounded by its duration; a run that has not ended this long after it is killed. */
const KILL_AFTER_MS = 15_000;

/**
 * One wrk run (one thread, keep-alive `connections`) against `url` for
 * `seconds` and `maxRequests`, starting `offset` requests into the load's trace.
 */
export async function runWrk(o: {
  readonly url: string;
  readonly connections: number;
  readonly seconds: number;
  readonly load: WrkLoad;
  readonly offset?: number;
  /** At most this many requests. */
  readonly maxRequests: number;
}): Promise<WrkResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, WRK_OFFSET: String(o.offset ?? 0), WRK_MAX: String(o.maxRequests) };
  if ('path' in o.load) env.WRK_PATH = o.load.path;
  if ('trace' in o.load) Object.assign(env, { WRK_TRACE: o.load.trace, WRK_WRAP: o.load.wrap ? '1' : '0' });
  if ('create' in o.load) Object.assign(env, { WRK_PATH: o.load.create, WRK_BODY: 'create', WRK_TOKEN: o.load.token });
  const args = ['-t1', `-c${o.connections}`, `-d${o.seconds}s`, '--timeout', '10s', '-s', SCRIPT, o.url];
  const wrk = spawn('wrk', args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  wrk.stderr.on('data', (d) => (stderr += d));
  const killer = setTimeout(() => wrk.kill('SIGKILL'), o.seconds * 1000 + KILL_AFTER_MS);
  const [code] = await once(wrk, 'exit');
  clearTimeout(killer);
  const line = stderr.split('\n').find((l) => l.startsWith('{'));
  if (code !== 0 || !line) throw new Error(`wrk ${args.join(' ')} exited ${code}: ${stderr.trim()}`);
  const r = JSON.parse(line) as Record<string, number>;
  const ms = (us: number) => Math.round(us / 10) / 100;
  return {
    requests: { total: r.requests!, perSecond: Math.round(r.requests! / (r.durationUs! / 1e6)) },
    latencyMs: { avg: ms(r.meanUs!), p50: ms(r.p50Us!), p99: ms(r.p99Us!), max: ms(r.maxUs!) },
    errors: { socket: r.connect! + r.read! + r.write!, timeouts: r.timeout!, status: r.status! },
  };
}

/** Writes `count` paths from `next` to `file`, one per line: a trace wrk-trace.lua replays. */
export async function writeTrace(file: string, count: number, next: (i: number) => string): Promise<void> {
  const out = createWriteStream(file);
  let chunk: string[] = [];
  for (let i = 0; i < count; i++) {
    chunk.push(next(i));
    if (chunk.length === 10_000 || i === count - 1) {
      if (!out.write(`${chunk.join('\n')}\n`)) await once(out, 'drain');
      chunk = [];
    }
  }
  out.end();
  await once(out, 'finish');
}
