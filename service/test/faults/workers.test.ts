import { once } from 'node:events';
import { execFile } from 'node:child_process';
import http from 'node:http';
import { promisify } from 'node:util';
import { sizingFor } from '../../../common/sizing';
import { createLink, json, ROOT, sql, uniqueSlug } from '../../../test-support/service';
import { pm2Cluster, pm2Runtime } from '../../../test-support/pm2';
import {
  failures,
  keepAliveLoad,
  kinds,
  type Outcome,
  reportFault,
  request,
  seconds,
  sleep,
  timeUntil,
} from '../../../test-support/faults';

const local = sizingFor('local');
const run = promisify(execFile);
/** Requests sent this close to a crash may fail (in flight on the dying worker, or handed to it by the master). */
const CRASH_WINDOW_MS = 1_000;
const LOAD = { connections: 16, maxRequests: 500_000, timeoutMs: 5_000 } as const;

describe('PM2 workers failing under load', () => {
  let cluster: Awaited<ReturnType<typeof pm2Cluster>>;
  let slug: string;
  beforeAll(async () => {
    // PM2 checks max_memory_restart every PM2_WORKER_INTERVAL ms (30 s by default).
    cluster = await pm2Cluster({ FAULT_INJECTION: 'true', LOG_LEVEL: 'warn', PM2_WORKER_INTERVAL: '500' });
    slug = uniqueSlug('wk');
    expect((await createLink(cluster.base, { url: 'https://example.com/wk', slug })).status).toBe(201);
  });
  afterAll(() => cluster.kill());

  /** Ms until `pid` is gone and the sized number of workers is online again. */
  const replaced = (pid: number) =>
    timeUntil(async () => {
      const now = await cluster.online();
      return now.length === local.pm2Instances && !now.some((w) => w.pid === pid);
    }, 20_000);
  const restarts = async () => (await cluster.jlist()).reduce((n, w) => n + w.pm2_env.restart_time, 0);

  it('a crashing worker is replaced; connections held by the other worker see 0 failures', async () => {
    const pidOf = new Map<number, number>();
    const restartsBefore = await restarts();
    let crashed = 0;
    let crashAt = 0;
    let replacedAfterMs = 0;
    const fault = (async () => {
      await sleep(2_000);
      const res = await fetch(`${cluster.base}/__fault/crash`, { method: 'POST', headers: { connection: 'close' } });
      crashed = (await json(res)).crashing;
      crashAt = Date.now();
      replacedAfterMs = await replaced(crashed);
    })();
    const [{ outcomes, startedAt }] = await Promise.all([
      keepAliveLoad({
        ...LOAD,
        base: cluster.base,
        path: () => `/${slug}`,
        durationMs: 10_000,
        // Each client's socket is opened here and kept: ask it which worker it reached.
        onStart: async (agents) => {
          for (const [conn, agent] of agents.entries()) {
            pidOf.set(conn, JSON.parse((await request(`${cluster.base}/__fault/whoami`, agent, 2_000)).body!).pid);
          }
        },
      }),
      fault,
    ]);
    const onSurvivor = outcomes.filter((o) => pidOf.get(o.conn) !== crashed);
    const onCrashed = outcomes.filter((o) => pidOf.get(o.conn) === crashed);
    const restartsAfter = await restarts();
    const crashT = crashAt - startedAt;
    const failed = failures(onCrashed);
    const settled = onCrashed.filter((o) => o.t > crashT + CRASH_WINDOW_MS);
    const sentAt = failed.map((o) => o.t - crashT);

    reportFault(
      `worker crash under load: ${onSurvivor.length} requests on the surviving worker's connections, ` +
        `${failures(onSurvivor).length} failures; ${onCrashed.length} on the crashed worker's connections: ` +
        `${kinds(failed)}, sent ${Math.min(...sentAt)}..${Math.max(...sentAt)} ms around the crash ` +
        `(${kinds(settled)} after it); replaced in ${seconds(replacedAfterMs)}`,
    );
    expect(new Set(pidOf.values()).size).toBe(local.pm2Instances);
    expect(onSurvivor.length).toBeGreaterThan(1_000);
    expect(kinds(failures(onSurvivor))).toBe('none');
    expect(restartsAfter).toBe(restartsBefore + 1);
    // Only requests sent around the crash fail; the crashed worker's clients reconnect and are served.
    for (const o of failed) expect(Math.abs(o.t - crashT)).toBeLessThan(CRASH_WINDOW_MS);
    expect(settled.length).toBeGreaterThan(100);
    expect(kinds(failures(settled))).toBe('none');
  });

  it('a worker over max_memory_restart is reloaded gracefully: 0 failed requests', async () => {
    const restartsBefore = await restarts();
    let leaky = 0;
    let replacedAfterMs = 0;
    const fault = (async () => {
      await sleep(2_000);
      const leak = `/__fault/leak?mib=${local.maxMemoryRestartMiB + 50}`;
      const res = await fetch(`${cluster.base}${leak}`, { method: 'POST', headers: { connection: 'close' } });
      leaky = (await json(res)).pid;
      replacedAfterMs = await replaced(leaky);
    })();
    const [{ outcomes }] = await Promise.all([
      keepAliveLoad({ ...LOAD, base: cluster.base, path: () => `/${slug}`, durationMs: 10_000 }),
      fault,
    ]);
    const restartsAfter = await restarts();

    reportFault(
      `worker over max_memory_restart (${local.maxMemoryRestartMiB} MiB) under load: ${outcomes.length} requests, ` +
        `${failures(outcomes).length} failures [${kinds(outcomes)}]; PM2 replaced it ${seconds(replacedAfterMs)} after the leak`,
    );
    expect(leaky).toBeGreaterThan(0);
    expect(kinds(failures(outcomes))).toBe('none');
    expect(restartsAfter).toBe(restartsBefore + 1);
  });

  it('npm run restart:cluster under load: 0 failed requests, every worker replaced', async () => {
    const pidsBefore = (await cluster.online()).map((w) => w.pid);
    let tookMs = 0;
    const fault = (async () => {
      await sleep(2_000);
      const at = Date.now();
      await run('npm', ['run', '-s', 'restart:cluster'], { cwd: ROOT, env: cluster.env });
      tookMs = Date.now() - at;
    })();
    const [{ outcomes }] = await Promise.all([
      keepAliveLoad({ ...LOAD, base: cluster.base, path: () => `/${slug}`, durationMs: 10_000 }),
      fault,
    ]);
    const pidsAfter = (await cluster.online()).map((w) => w.pid);

    reportFault(
      `npm run restart:cluster under load: ${outcomes.length} requests, ${failures(outcomes).length} failures ` +
        `[${kinds(outcomes)}]; ${pidsAfter.length} workers replaced in ${seconds(tookMs)}`,
    );
    expect(kinds(failures(outcomes))).toBe('none');
    expect(pidsAfter).toHaveLength(local.pm2Instances);
    expect(pidsAfter.filter((p) => pidsBefore.includes(p))).toEqual([]);
  });
});

describe('SIGTERM to pm2-runtime (a pod being stopped) under load', () => {
  it('answers every request sent before the endpoint is gone, counts every click, then exits 0 within the grace period', async () => {
    // Clicks reach PostgreSQL only when the workers stop: the shutdown's flush is what counts them.
    const rt = await pm2Runtime({ LOG_LEVEL: 'warn', CLICK_FLUSH_INTERVAL_MS: '600000' });
    const slug = uniqueSlug('st');
    expect((await createLink(rt.base, { url: 'https://example.com/st', slug })).status).toBe(201);
    let signalledAt = 0;
    // Kubernetes removes the pod from its Service while it drains; clients stop arriving
    // within the drain window. Here: new requests stop half-way through it.
    const endpointGone = () => signalledAt > 0 && Date.now() - signalledAt > local.drainMs / 2;
    const exited = once(rt.proc, 'exit');
    const fault = (async () => {
      await sleep(2_000);
      signalledAt = Date.now();
      rt.proc.kill('SIGTERM');
    })();
    const [{ outcomes, startedAt }] = await Promise.all([
      keepAliveLoad({
        ...LOAD,
        base: rt.base,
        path: () => `/${slug}`,
        durationMs: 10_000,
        stopWhen: endpointGone,
      }),
      fault,
    ]);
    const [code] = await exited;
    const exitMs = Date.now() - signalledAt;
    const afterSignal = outcomes.filter((o: Outcome) => startedAt + o.t >= signalledAt);
    const redirected = outcomes.filter((o) => o.status === 302).length;
    const [{ clicks }] = await sql<{ clicks: string }>('SELECT clicks FROM links WHERE slug = $1', [slug]);

    reportFault(
      `SIGTERM to pm2-runtime under load: ${outcomes.length} requests (${afterSignal.length} after the signal), ` +
        `${failures(outcomes).length} failures [${kinds(outcomes)}]; exit code ${code} after ${seconds(exitMs)} ` +
        `(grace period ${local.terminationGracePeriodSeconds} s); clicks stored ${clicks} for ${redirected} redirects`,
    );
    expect(kinds(failures(outcomes))).toBe('none');
    expect(Number(clicks)).toBe(redirected);
    expect(afterSignal.length).toBeGreaterThan(0);
    expect(code).toBe(0);
    expect(exitMs).toBeLessThan(local.terminationGracePeriodSeconds * 1000);
    expect(await new Promise((r) => http.get(`${rt.base}/livez`, r).on('error', () => r('refused')))).toBe('refused');
  });
});
