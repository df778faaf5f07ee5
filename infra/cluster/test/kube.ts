import { execFile, execFileSync, spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { DEFAULT_PORT } from '../../../common/contract';
import { kinds, request, type Outcome } from '../../../test-support/faults';
import { ROOT } from '../../../test-support/root';

/** Helpers for the cluster test: the cluster's settings, and commands run as an operator types them. */

export { ROOT };
const CLUSTER_DIR = path.join(ROOT, 'infra/cluster');

/** infra/cluster/cluster.env as the scripts see it (sourced by bash), so the test never re-types a setting. */
export const cluster = parseEnv(
  execFileSync('bash', ['-c', 'set -a; source ./cluster.env; env -0 | tr "\\0" "\\n" | grep -E "^[A-Z_]+="'], {
    cwd: CLUSTER_DIR,
    encoding: 'utf8',
  }),
) as Record<string, string>;

/** The folder build.sh built the cluster's binaries into. */
export const bin =
  process.env.CLUSTER_BIN || execFileSync(path.join(CLUSTER_DIR, 'build.sh'), { encoding: 'utf8' }).trim();

/** The environment every command gets: the cluster's kubectl first on the PATH, its admin kubeconfig. */
export const kubeEnv: NodeJS.ProcessEnv = {
  ...process.env,
  PATH: `${bin}:${process.env.PATH}`,
  KUBECONFIG: path.join(cluster.STATE!, 'admin.kubeconfig'),
};

export interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `command` through bash exactly as written (the used-by commands, verbatim), from the repository root. */
export function sh(command: string, timeoutMs = 120_000): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      'bash',
      ['-c', command],
      { cwd: ROOT, env: kubeEnv, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** `kubectl …` that must succeed; returns stdout. */
export async function kubectl(...args: string[]): Promise<string> {
  const r = await sh(['kubectl', ...args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`)].join(' '));
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects are plain JSON */
export async function getJson(...args: string[]): Promise<any> {
  return JSON.parse(await kubectl('get', ...args, '-o', 'json'));
}

/**
 * Polls `fn` until it returns a truthy value or `timeoutMs` passes; resolves with that value. On timeout the
 * error names the last error `fn` threw and, when given, what `state` says the cluster looks like then.
 */
export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs: number,
  state?: () => Promise<string>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    const value = await fn().catch((err: Error) => {
      lastError = err.message;
      return undefined;
    });
    if (value) return value;
    if (Date.now() > deadline) {
      const seen = state ? await state().catch((err: Error) => `(state unavailable: ${err.message})`) : '';
      throw new Error(
        `${what}: not within ${timeoutMs} ms${lastError ? `; last error: ${lastError}` : ''}${seen ? `\n${seen}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** What a failing wait prints: the release's autoscaler, workloads and pods, and the namespace's latest events. */
export async function releaseState(selector: string): Promise<string> {
  const objects = await sh(`kubectl get hpa,deploy,rs,pods -l ${selector} -o wide`);
  const events = await sh('kubectl get events --sort-by=.lastTimestamp');
  const latest = events.stdout.trim().split('\n').slice(-15).join('\n');
  return `${objects.stdout.trim()}${objects.stderr.trim()}\nlatest events:\n${latest}${events.stderr.trim()}`;
}

/**
 * The host's way to a pod, for a request from the host straight to a pod IP that failed: the route, the
 * neighbour entry, the filter rules that name the address (with their packet counters) and its conntrack entries.
 */
export async function hostPathTo(ip: string): Promise<string> {
  const r = await sh(
    `ip route get ${ip}; ip neigh show to ${ip}; iptables-save -c -t filter | grep -F -- '${ip}' | head -n 20; ` +
      `echo "conntrack entries to ${ip}: $(conntrack -L -d ${ip} 2>/dev/null | wc -l)"`,
  );
  return `${r.stdout}${r.stderr}`.trim();
}

/** The Deployment's pods, newest first, with their phase, readiness and restart counts. */
export async function pods(selector: string): Promise<any[]> {
  const list = await getJson('pods', '-l', selector);
  return (list.items as any[]).sort(
    (a, b) => Date.parse(b.metadata.creationTimestamp) - Date.parse(a.metadata.creationTimestamp),
  );
}

export const isReady = (pod: any) =>
  (pod.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');

/**
 * Applies a fault to every worker of a pod: POSTs `path` on new connections
 * until each worker has answered (PM2's master hands connections round-robin).
 * A pod is Ready once one worker answers /ready, so a just-restarted pod's
 * second worker may still be starting: keep trying for a while.
 */
export async function everyWorker(podIp: string, urlPath: string, workers: number): Promise<number[]> {
  const pids = new Set<number>();
  const others: Outcome[] = [];
  const started = Date.now();
  while (pids.size < workers && Date.now() - started < 30_000) {
    // A connection of its own each time (Node's global agent keeps one alive, always to the same worker);
    // a worker already blocked would hold a request handed to it: a short timeout, then the next connection.
    const fresh = new http.Agent({ keepAlive: false });
    const t = Date.now() - started;
    const r = await request(`http://${podIp}:${DEFAULT_PORT}${urlPath}`, fresh, 1_000, { method: 'POST' });
    if (r.status === 202) pids.add(JSON.parse(r.body!).pid);
    else {
      others.push({ conn: 0, t, ms: Date.now() - started - t, ...r });
      await new Promise((res) => setTimeout(res, 250));
    }
  }
  if (pids.size < workers) {
    // How many workers took the fault, what the other attempts came back as, and the host's way to the pod.
    const failed = { workers: pids.size, otherAnswers: kinds(others), hostPath: await hostPathTo(podIp) };
    expect(failed).toMatchObject({ workers: workers });
  }
  return [...pids];
}

/** Streams a pod's updates (`kubectl get pod -w`) into `seen`: what it was at each change, until it is gone. */
export function watchPod(name: string, seen: any[]) {
  const proc = spawn('kubectl', ['get', 'pod', name, '-w', '-o', 'json'], {
    env: kubeEnv,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let buffer = '';
  proc.stdout.on('data', (d: Buffer) => {
    buffer += d.toString();
    // kubectl writes one pretty-printed object per event; each ends with a closing brace at column 0.
    let end: number;
    while ((end = buffer.indexOf('\n}\n')) >= 0) {
      seen.push(JSON.parse(buffer.slice(0, end + 2)));
      buffer = buffer.slice(end + 3);
    }
  });
  return proc;
}
