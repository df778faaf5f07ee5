import { spawn } from 'node:child_process';
import http from 'node:http';
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { DEFAULT_METRICS_PORT, DEFAULT_PORT, PM2_APP_NAME } from '../../../common/contract';
import {
  failures,
  keepAliveLoad,
  kinds,
  request,
  startPrivatePostgres,
  type Outcome,
} from '../../../test-support/faults';
import { sqlAt, startPrivateRedis, TOKEN, uniqueSlug } from '../../../test-support/service';
import {
  CHANGE_CAUSE,
  DEFAULT_API_CLIENT_LABELS,
  DEFAULT_DATABASE_PORT,
  DEFAULT_METRICS_SCRAPER_LABELS,
  DEFAULT_REDIS_PORT,
  DNS_PORT,
} from '../../chart';
import { CONTAINER_NAME, DASHBOARD_NAME, DEPLOYMENT_NAME } from '../../names';
import { RESTRICTED_NAMESPACE_LABELS } from '../../pod-security';
import { sizingFor } from '../../../common/sizing';
import {
  cluster,
  getJson,
  hostPathTo,
  isReady,
  kubeEnv,
  kubectl,
  pods,
  releaseState,
  ROOT,
  sh,
  until,
  type Ran,
} from './kube';
import { apply, clientPod, hostListeners, reach, readyIp, type Reach } from './netpol';

/**
 * make cluster-test: the product's used-by commands, verbatim, against a real
 * single-node Kubernetes built from upstream sources (infra/cluster/up.sh
 * started it; run.sh tears it down). One file, in order: each part builds on
 * the release the previous one left.
 */

/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects are plain JSON */
const ENV = 'cluster-test';
const s = sizingFor(ENV);
const NAMESPACE = 'boltlink';
const OUT = `charts-out.${ENV}`;
const SELECTOR = `app.kubernetes.io/name=${DEPLOYMENT_NAME}`;
const TAGS = { first: 'cluster-test-1', second: 'cluster-test-2', broken: 'cluster-test-broken' } as const;
const image = (tag: string) => `boltlink-backend:${tag}`;
/** Load for the rollouts: bounded in connections, requests and time; a failure is any error, timeout or 5xx. */
const LOAD = { connections: 8, maxRequests: 2_000_000, timeoutMs: 5_000 } as const;
const PHASE_LIMIT_MS = 5 * 60_000;
/**
 * The HPA's load: keep-alive connections through the ClusterIP, each request a redirect of a link
 * the worker cache does not hold (HPA_LINKS of them in turn, each back after its cache TTL), so the
 * pod spends more CPU per request than the host's load generator does.
 */
const HPA_HEAVY_CONNECTIONS = 12;
const HPA_LINKS = 100_000;
const HPA_LOAD_PATH = (i: number, conn: number) => `/hpa-${((i * HPA_HEAVY_CONNECTIONS + conn) % HPA_LINKS) + 1}`;
/** A host port the backend's egress does not admit (NetworkPolicy proof). */
const OTHER_PORT = 8443;

/** One line per proof for the summary make cluster-test prints (CLUSTER_SUMMARY names the file). */
function report(line: string): void {
  process.stdout.write(`${line}\n`);
  if (process.env.CLUSTER_SUMMARY) appendFileSync(process.env.CLUSTER_SUMMARY, `${line}\n`);
}

const made: string[] = [];
const tmp = () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cluster-test-'));
  made.push(dir);
  return dir;
};

let pg: Awaited<ReturnType<typeof startPrivatePostgres>>;
let redis: Awaited<ReturnType<typeof startPrivateRedis>>;
let dbUrl: string;
let serviceUrl: string;
let slug: string;

async function buildDerivedImages(): Promise<void> {
  // A second release: the same code under a new tag and label (a rollout needs a different image).
  const second = tmp();
  writeFileSync(
    path.join(second, 'Dockerfile'),
    `FROM ${image(TAGS.first)}\nLABEL org.opencontainers.image.version=${TAGS.second}\n`,
  );
  // A broken release: a migration that fails, so its pods never become Ready.
  const broken = tmp();
  writeFileSync(path.join(broken, 'migration.sql'), 'SELECT * FROM a_table_that_does_not_exist;\n');
  writeFileSync(
    path.join(broken, 'Dockerfile'),
    `FROM ${image(TAGS.first)}\nCOPY migration.sql dist/service/prisma/migrations/99990101000000_broken/migration.sql\n`,
  );
  for (const [tag, dir] of [
    [TAGS.second, second],
    [TAGS.broken, broken],
  ] as const) {
    const r = await sh(`docker build --network host -q -t ${image(tag)} ${dir}`, 600_000);
    if (r.code !== 0) throw new Error(`docker build ${tag}: ${r.stderr}`);
  }
  const imported = await sh(
    `infra/cluster/images.sh ${[TAGS.first, TAGS.second, TAGS.broken].map(image).join(' ')}`,
    600_000,
  );
  if (imported.code !== 0) throw new Error(`images.sh: ${imported.stderr}`);
}

beforeAll(async () => {
  // PostgreSQL and Redis for the pods, on the host side of the pod network, on the ports the chart's
  // NetworkPolicy lets the pods reach (the policy agent enforces it).
  pg = await startPrivatePostgres({ host: cluster.HOST_IP, trust: cluster.POD_CIDR, port: DEFAULT_DATABASE_PORT });
  await sqlAt(pg.url, 'CREATE DATABASE boltlink');
  dbUrl = pg.dbUrl('boltlink');
  redis = await startPrivateRedis(DEFAULT_REDIS_PORT, cluster.HOST_IP);
  await buildDerivedImages();

  const synth = await sh(`make synth ENV=${ENV} TAG=${TAGS.first}`);
  expect(synth).toMatchObject({ code: 0 });
  await kubectl('create', 'namespace', NAMESPACE);
  await kubectl(
    'label',
    'namespace',
    NAMESPACE,
    ...Object.entries(RESTRICTED_NAMESPACE_LABELS).map(([k, v]) => `${k}=${v}`),
  );
  // The guide's commands carry no -n: the operator's context names the namespace.
  await kubectl('config', 'set-context', '--current', `--namespace=${NAMESPACE}`);
  await kubectl('create', 'secret', 'generic', 'db-secrets', `--from-literal=url=${dbUrl}`);
  await kubectl('create', 'secret', 'generic', 'redis-secrets', `--from-literal=url=${redis.url}`);
  await kubectl('create', 'secret', 'generic', 'boltlink-api-tokens', `--from-literal=tokens=${TOKEN}`);
}, 15 * 60_000);

afterAll(async () => {
  await pg?.destroy();
  await redis?.stop();
  made.forEach((d) => rmSync(d, { recursive: true, force: true }));
});

describe('1. admission: restricted Pod Security, strict server-side field validation', () => {
  it('a release with a namespace of its own: its Namespace, labels and default-deny are accepted, without warnings', async () => {
    const out = tmp();
    const r = await sh(
      `BOLTLINK_ENV=${ENV} BOLTLINK_NAMESPACE=boltlink-own TAG=${TAGS.first} npx --no-install cdk8s synth --no-check-upgrade --output ${out} >/dev/null && kubectl apply -f ${out}`,
    );
    try {
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      expect(r.stdout).toContain('namespace/boltlink-own created');
      expect(r.stdout).toContain('networkpolicy.networking.k8s.io/default-deny created');
      const ns = await getJson('namespace', 'boltlink-own');
      expect(ns.metadata.labels).toMatchObject(RESTRICTED_NAMESPACE_LABELS);
    } finally {
      await sh('kubectl delete namespace boltlink-own --wait=true', 180_000);
    }
  }, 240_000);

  it('refuses an unknown field (the validation the next test relies on is on)', async () => {
    const copy = tmp();
    cpSync(path.join(ROOT, OUT), copy, { recursive: true });
    const file = path.join(copy, `boltlink-${ENV}.k8s.yaml`);
    const docs = parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJSON());
    docs.find((d) => d.kind === 'Deployment').spec.template.spec.containers[0].bogusField = 1;
    writeFileSync(file, docs.map((d) => stringify(d)).join('---\n'));
    const r = await sh(`kubectl apply -f ${copy} --dry-run=server`);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/unknown field "spec.template.spec.containers\[0\].bogusField"/);
  });

  // Before the cluster-test release: both are Deployment boltlink-backend, with different selectors.
  it('kubectl apply -f charts-out (the committed prod release), server-side dry run: accepted, no warnings', async () => {
    const r = await sh('kubectl apply -f charts-out --dry-run=server');
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    report(`admission: prod charts-out, server dry run → ${r.stdout.trim().split('\n').length} objects, 0 warnings`);
  });
  it(`kubectl apply -f ${OUT}: every object accepted, no warnings`, async () => {
    const r = await sh(`kubectl apply -f ${OUT}`);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const created = r.stdout.trim().split('\n');
    report(`admission: kubectl apply -f ${OUT} → ${created.length} objects, 0 warnings (${created.join('; ')})`);
    const synthesized = parseAllDocuments(readFileSync(path.join(ROOT, OUT, `boltlink-${ENV}.k8s.yaml`), 'utf8'));
    expect(created).toHaveLength(synthesized.length);
    expect(r.stdout).toContain(`configmap/${DASHBOARD_NAME} created`);
  });
});

describe('2. pods run as sized', () => {
  let pod: any;
  beforeAll(async () => {
    const started = Date.now();
    const r = await sh(
      `kubectl rollout status deployment/${DEPLOYMENT_NAME} --timeout=${s.startupTimeoutMs * 3}ms`,
      300_000,
    );
    expect(r).toMatchObject({ code: 0 });
    [pod] = await pods(SELECTOR);
    const svc = await getJson('service', DEPLOYMENT_NAME);
    serviceUrl = `http://${svc.spec.clusterIP}:${svc.spec.ports[0].port}`;
    report(
      `pods: Ready ${((Date.now() - started) / 1000).toFixed(1)} s after apply (startup budget ${s.startupTimeoutMs / 1000} s)`,
    );
  }, 360_000);

  it('every pod is Ready within the startup budget', async () => {
    const all = await pods(SELECTOR);
    expect(all.map(isReady)).toEqual(all.map(() => true));
    for (const p of all) {
      const created = Date.parse(p.metadata.creationTimestamp);
      const ready = Date.parse(p.status.conditions.find((c: any) => c.type === 'Ready').lastTransitionTime);
      expect(ready - created).toBeLessThanOrEqual(s.startupTimeoutMs);
    }
  });

  it('kubectl exec <pod> -- npx pm2 status: exactly the sized workers online', async () => {
    const r = await sh(`kubectl exec ${pod.metadata.name} -- npx pm2 status`);
    expect(r).toMatchObject({ code: 0 });
    const online = r.stdout.split('\n').filter((l) => l.includes(PM2_APP_NAME) && l.includes('online'));
    report(
      `pods: kubectl exec ${pod.metadata.name} -- npx pm2 status → ${online.length} workers online (sizing: ${s.pm2Instances})`,
    );
    expect(online).toHaveLength(s.pm2Instances);
  });

  it('/health inside the pod: the guard reads the cgroup the kubelet made from the chart’s limits', async () => {
    const r = await sh(
      `kubectl exec ${pod.metadata.name} -- node -e "fetch('http://127.0.0.1:${DEFAULT_PORT}/health').then(r => r.text()).then(t => process.stdout.write(t))"`,
    );
    expect(r).toMatchObject({ code: 0 });
    const { sizing } = JSON.parse(r.stdout);
    const limits = pod.spec.containers.find((c: any) => c.name === CONTAINER_NAME).resources.limits;
    report(
      `pods: /health sizing ${JSON.stringify(sizing)}; container limits cpu ${limits.cpu}, memory ${limits.memory}`,
    );
    expect(sizing).toMatchObject({
      workers: s.pm2Instances,
      cpuQuota: s.cpuLimitMilli / 1000,
      memoryLimitMiB: s.memoryLimitMiB,
      status: 'ok',
    });
    expect(limits).toMatchObject({ cpu: `${s.cpuLimitMilli / 1000}`, memory: `${s.memoryLimitMiB}Mi` });
  });
});

/** Replica sets of the Deployment with their image and replicas, for the report. */
async function replicaSets(): Promise<string> {
  const list = await getJson('rs', '-l', SELECTOR);
  return (list.items as any[])
    .map(
      (rs) =>
        `${rs.metadata.name} (${rs.spec.template.spec.containers[0].image.split(':')[1]}: ${rs.status.replicas ?? 0})`,
    )
    .join(', ');
}

/** Keep-alive load through the Service's ClusterIP while `action` runs, and for 2 s after it. */
async function underLoad(action: () => Promise<Ran[]>): Promise<{ outcomes: Outcome[]; ran: Ran[]; ms: number }> {
  let done = false;
  let ran: Ran[] = [];
  const started = Date.now();
  const act = (async () => {
    await new Promise((r) => setTimeout(r, 2_000));
    try {
      ran = await action();
    } finally {
      setTimeout(() => (done = true), 2_000);
    }
  })();
  const [{ outcomes }] = await Promise.all([
    keepAliveLoad({
      ...LOAD,
      base: serviceUrl,
      path: () => `/${slug}`,
      durationMs: PHASE_LIMIT_MS,
      stopWhen: () => done,
    }),
    act,
  ]);
  return { outcomes, ran, ms: Date.now() - started };
}

const rolloutLine = (what: string, r: { outcomes: Outcome[]; ms: number }, sets: string) =>
  `${what}: ${r.outcomes.length} requests through the ClusterIP in ${(r.ms / 1000).toFixed(1)} s, ` +
  `${failures(r.outcomes).length} failed (${kinds(r.outcomes)}), ${r.outcomes.filter((o) => o.error === 'TIMEOUT').length} timeouts; replica sets: ${sets}`;

const currentImage = async () =>
  (await getJson('deployment', DEPLOYMENT_NAME)).spec.template.spec.containers[0].image as string;

/**
 * Applies a fault to every worker of a pod: POSTs `path` on new connections
 * until each worker has answered (PM2's master hands connections round-robin).
 * A pod is Ready once one worker answers /ready, so a just-restarted pod's
 * second worker may still be starting: keep trying for a while.
 */
async function everyWorker(podIp: string, path: string): Promise<number[]> {
  const pids = new Set<number>();
  const others: Outcome[] = [];
  const started = Date.now();
  while (pids.size < s.pm2Instances && Date.now() - started < 30_000) {
    // A connection of its own each time (Node's global agent keeps one alive, always to the same worker);
    // a worker already blocked would hold a request handed to it: a short timeout, then the next connection.
    const fresh = new http.Agent({ keepAlive: false });
    const t = Date.now() - started;
    const r = await request(`http://${podIp}:${DEFAULT_PORT}${path}`, fresh, 1_000, { method: 'POST' });
    if (r.status === 202) pids.add(JSON.parse(r.body!).pid);
    else {
      others.push({ conn: 0, t, ms: Date.now() - started - t, ...r });
      await new Promise((res) => setTimeout(res, 250));
    }
  }
  if (pids.size < s.pm2Instances) {
    // How many workers took the fault, what the other attempts came back as, and the host's way to the pod.
    const failed = { workers: pids.size, otherAnswers: kinds(others), hostPath: await hostPathTo(podIp) };
    expect(failed).toMatchObject({ workers: s.pm2Instances });
  }
  return [...pids];
}

/** Streams a pod's updates (`kubectl get pod -w`) into `seen`: what it was at each change, until it is gone. */
function watchPod(name: string, seen: any[]) {
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

/**
 * Waits until the HPA has settled at its minimum: load is real CPU, so the HPA may have scaled
 * out meanwhile and will scale back in after the sizing's window; the tests that follow act on
 * one pod and must not have it removed under them.
 */
async function settledAtMinimum(): Promise<number> {
  const started = Date.now();
  await until(
    `the HPA settled at ${s.minReplicas} pod(s)`,
    async () => {
      const { status } = await getJson('hpa', DEPLOYMENT_NAME);
      const now = await pods(SELECTOR);
      return (
        status.currentReplicas === s.minReplicas &&
        status.desiredReplicas === s.minReplicas &&
        now.length === s.minReplicas &&
        now.every(isReady)
      );
    },
    5 * 60_000,
    () => releaseState(SELECTOR),
  );
  return Date.now() - started;
}

describe('3. node-level truth', () => {
  beforeAll(async () => {
    const waitedMs = await settledAtMinimum();
    report(`HPA: at ${s.minReplicas} pod(s) (waited ${(waitedMs / 1000).toFixed(1)} s)`);
  }, 6 * 60_000);

  it(
    'a deleted pod exits 0 within terminationGracePeriodSeconds, its clicks flushed to PostgreSQL',
    async () => {
      const [pod] = await pods(SELECTOR);
      const clickSlug = uniqueSlug('ctc');
      const created = await request(`${serviceUrl}/api/links`, undefined, 5_000, {
        method: 'POST',
        body: JSON.stringify({ url: 'https://example.com/clicks', slug: clickSlug }),
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      });
      expect(created).toMatchObject({ status: 201 });
      const { outcomes } = await keepAliveLoad({
        ...LOAD,
        connections: 4,
        base: `http://${pod.status.podIP}:${DEFAULT_PORT}`,
        path: () => `/${clickSlug}`,
        durationMs: 10_000,
        maxRequests: 500,
      });
      const redirects = outcomes.filter((o) => o.status === 302).length;
      const seen: any[] = [];
      const watch = watchPod(pod.metadata.name, seen);
      await new Promise((r) => setTimeout(r, 1_000));
      const deleted = await sh(`kubectl delete pod ${pod.metadata.name}`, 120_000);
      const last = await until(
        'the deleted pod reported its container terminated',
        async () =>
          seen.find((p) => p.metadata.deletionTimestamp && p.status.containerStatuses?.[0]?.state?.terminated),
        30_000,
        () => releaseState(SELECTOR),
      );
      watch.kill();
      const terminated = last.status.containerStatuses[0].state.terminated;
      // deletionTimestamp is the deadline (the request's time plus the grace period), not the request's time.
      const requestedAt = Date.parse(last.metadata.deletionTimestamp) - last.metadata.deletionGracePeriodSeconds * 1000;
      const tookMs = Date.parse(terminated.finishedAt) - requestedAt;
      const clicks = async () =>
        Number(
          (await sqlAt<{ clicks: string }>(dbUrl, 'SELECT clicks FROM links WHERE slug = $1', [clickSlug]))[0]!.clicks,
        );
      report(
        `kubectl delete pod ${pod.metadata.name}: exit code ${terminated.exitCode} after ${(tookMs / 1000).toFixed(1)} s ` +
          `(grace ${s.terminationGracePeriodSeconds} s, preStop ${s.preStopDelaySeconds} s); clicks ${await clicks()} of ${redirects} redirects in PostgreSQL`,
      );
      expect(deleted.code).toBe(0);
      const answers = kinds(outcomes);
      const allRedirects = `302 ×${outcomes.length}`;
      expect(answers === allRedirects ? answers : `${answers}\n${await hostPathTo(pod.status.podIP)}`).toBe(
        allRedirects,
      );
      expect(terminated.exitCode).toBe(0);
      expect(tookMs).toBeLessThanOrEqual(s.terminationGracePeriodSeconds * 1000);
      expect(await clicks()).toBe(redirects);
      await sh(`kubectl rollout status deployment/${DEPLOYMENT_NAME}`, PHASE_LIMIT_MS);
    },
    PHASE_LIMIT_MS,
  );

  it(
    'liveness restarts a pod whose event loop is blocked',
    async () => {
      const [pod] = await pods(SELECTOR);
      const before = pod.status.containerStatuses[0].restartCount;
      const blockedAt = Date.now();
      // Longer than the liveness budget, so only the kubelet's restart ends it.
      await everyWorker(pod.status.podIP, `/__fault/block?ms=${120_000}`);
      const budgetMs =
        s.livenessProbe.periodSeconds * (s.livenessProbe.failureThreshold + 1) * 1000 +
        s.terminationGracePeriodSeconds * 1000;
      const restarted = await until(
        'the kubelet restarted the blocked container',
        async () => {
          const now = await getJson('pod', pod.metadata.name);
          return now.status.containerStatuses[0].restartCount > before ? now : undefined;
        },
        budgetMs + 30_000,
        () => releaseState(SELECTOR),
      );
      const tookMs = Date.now() - blockedAt;
      const events = await kubectl(
        'get',
        'events',
        '--field-selector',
        `involvedObject.name=${pod.metadata.name}`,
        '-o',
        'jsonpath={.items[*].message}',
      );
      report(
        `liveness: both workers' event loops blocked; container restarted after ${(tookMs / 1000).toFixed(1)} s ` +
          `(probe every ${s.livenessProbe.periodSeconds} s, ${s.livenessProbe.failureThreshold} failures; grace ${s.terminationGracePeriodSeconds} s)`,
      );
      expect(restarted.status.containerStatuses[0].restartCount).toBe(before + 1);
      expect(events).toMatch(/Liveness probe failed/);
      expect(tookMs).toBeLessThanOrEqual(budgetMs + 10_000);
      await sh(`kubectl rollout status deployment/${DEPLOYMENT_NAME}`, PHASE_LIMIT_MS);
      await until(
        'the restarted pod Ready',
        async () => isReady(await getJson('pod', pod.metadata.name)),
        120_000,
        () => releaseState(SELECTOR),
      );
    },
    PHASE_LIMIT_MS,
  );

  it(
    'readiness takes a pod out of the Service’s endpoints while /ready fails, and puts it back',
    async () => {
      const [pod] = await pods(SELECTOR);
      const endpointReady = async () => {
        const slices = await getJson('endpointslices', '-l', `kubernetes.io/service-name=${DEPLOYMENT_NAME}`);
        const endpoint = (slices.items as any[])
          .flatMap((sl) => sl.endpoints ?? [])
          .find((e) => e.targetRef?.name === pod.metadata.name);
        return endpoint?.conditions?.ready === true;
      };
      expect(await endpointReady()).toBe(true);
      const unreadyMs = 30_000;
      const failedAt = Date.now();
      await everyWorker(pod.status.podIP, `/__fault/unready?ms=${unreadyMs}`);
      const state = () => releaseState(SELECTOR);
      await until('the endpoint marked not ready', async () => !(await endpointReady()), 30_000, state);
      const outMs = Date.now() - failedAt;
      await until('the endpoint ready again', endpointReady, unreadyMs + 30_000, state);
      const backMs = Date.now() - failedAt;
      report(
        `readiness: /ready 503 on every worker; endpoint not ready after ${(outMs / 1000).toFixed(1)} s ` +
          `(probe every ${s.readinessProbe.periodSeconds} s, ${s.readinessProbe.failureThreshold} failures), ready again ${(backMs / 1000).toFixed(1)} s after (fault lasted ${unreadyMs / 1000} s)`,
      );
      expect(outMs).toBeLessThanOrEqual(
        s.readinessProbe.periodSeconds * (s.readinessProbe.failureThreshold + 1) * 1000 + 5_000,
      );
      expect(backMs).toBeGreaterThanOrEqual(unreadyMs);
    },
    PHASE_LIMIT_MS,
  );
});

describe('4-6. rollouts the guide’s way, under load', () => {
  beforeAll(async () => {
    slug = uniqueSlug('ct');
    const created = await request(`${serviceUrl}/api/links`, undefined, 5_000, {
      method: 'POST',
      body: JSON.stringify({ url: 'https://example.com/cluster', slug }),
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    });
    expect(created.status).toBe(201);
  });

  it(
    `4. the guide's kubectl set image …=${image(TAGS.second)} --record + kubectl rollout status: 0 failed requests`,
    async () => {
      const r = await underLoad(async () => [
        await sh(`kubectl set image deployment/${DEPLOYMENT_NAME} ${CONTAINER_NAME}=${image(TAGS.second)} --record`),
        await sh(`kubectl rollout status deployment/${DEPLOYMENT_NAME}`, PHASE_LIMIT_MS),
      ]);
      const [setImage] = r.ran;
      report(rolloutLine(`rollout to ${TAGS.second}`, r, await replicaSets()));
      report(`kubectl set image … --record: exit ${setImage!.code}, warns "${setImage!.stderr.trim()}"`);
      expect(r.ran.map((x) => x.code)).toEqual([0, 0]);
      // kubectl 1.34 still records (the change-cause is the command line) and says the flag is going.
      expect(setImage!.stderr).toMatch(/--record has been deprecated/);
      const recorded = ((await getJson('rs', '-l', SELECTOR)).items as any[]).find(
        (rs) => rs.spec.template.spec.containers[0].image === image(TAGS.second),
      ).metadata.annotations[CHANGE_CAUSE];
      expect(recorded).toMatch(new RegExp(`^kubectl set image .*${image(TAGS.second)} --record=true$`));
      expect(r.ran[1]!.stdout).toContain('successfully rolled out');
      expect(kinds(failures(r.outcomes))).toBe('none');
      expect(r.outcomes.length).toBeGreaterThan(1_000);
      expect(await currentImage()).toBe(image(TAGS.second));
    },
    PHASE_LIMIT_MS + 60_000,
  );

  it(
    '5. kubectl rollout undo: back to the previous image, 0 failed requests',
    async () => {
      const r = await underLoad(async () => [
        await sh(`kubectl rollout undo deployment/${DEPLOYMENT_NAME}`),
        await sh(`kubectl rollout status deployment/${DEPLOYMENT_NAME}`, PHASE_LIMIT_MS),
      ]);
      report(rolloutLine(`rollout undo to ${TAGS.first}`, r, await replicaSets()));
      expect(r.ran.map((x) => x.code)).toEqual([0, 0]);
      expect(kinds(failures(r.outcomes))).toBe('none');
      expect(await currentImage()).toBe(image(TAGS.first));
    },
    PHASE_LIMIT_MS + 60_000,
  );

  it(
    `make rollout TAG=${TAGS.second}: the same two commands through make, 0 failed requests`,
    async () => {
      const r = await underLoad(async () => [await sh(`make rollout TAG=${TAGS.second}`, PHASE_LIMIT_MS)]);
      report(rolloutLine(`make rollout TAG=${TAGS.second}`, r, await replicaSets()));
      expect(r.ran[0]).toMatchObject({ code: 0, stdout: expect.stringContaining('successfully rolled out') });
      expect(kinds(failures(r.outcomes))).toBe('none');
      expect(await currentImage()).toBe(image(TAGS.second));
    },
    PHASE_LIMIT_MS + 60_000,
  );

  it('kubectl rollout history names each revision’s image: kubectl apply, --record and make rollout', async () => {
    const history = await kubectl('rollout', 'history', `deployment/${DEPLOYMENT_NAME}`);
    report(`kubectl rollout history deployment/${DEPLOYMENT_NAME}:\n${history.trim().replace(/^/gm, '    ')}`);
    const sets = (await getJson('rs', '-l', SELECTOR)).items as any[];
    const causes = sets.map((rs) => [
      rs.spec.template.spec.containers[0].image,
      rs.metadata.annotations[CHANGE_CAUSE] as string | undefined,
    ]);
    // Each revision's cause names the image that revision runs.
    for (const [img, cause] of causes) expect(cause).toContain(img);
    expect(causes.map(([, cause]) => cause).sort()).toEqual(
      [
        `image ${image(TAGS.first)} (kubectl apply)`,
        `image ${image(TAGS.second)} (make rollout TAG=${TAGS.second})`,
      ].sort(),
    );
    expect(history).toContain(`make rollout TAG=${TAGS.second}`);
  });

  it(
    '6. a release whose migration fails stalls safely: its pod never Ready, the old one serves; undo recovers',
    async () => {
      let brokenPod: any;
      const r = await underLoad(async () => {
        const steps = [
          await sh(`kubectl set image deployment/${DEPLOYMENT_NAME} ${CONTAINER_NAME}=${image(TAGS.broken)}`),
          await sh(`kubectl rollout status deployment/${DEPLOYMENT_NAME} --timeout=60s`, 120_000),
        ];
        brokenPod = (await pods(SELECTOR)).find((p) => p.spec.containers[0].image === image(TAGS.broken));
        steps.push(await sh(`kubectl logs ${brokenPod.metadata.name} --tail=5`));
        steps.push(await sh(`kubectl rollout undo deployment/${DEPLOYMENT_NAME}`));
        steps.push(await sh(`kubectl rollout status deployment/${DEPLOYMENT_NAME}`, PHASE_LIMIT_MS));
        return steps;
      });
      const [, stalled, logs, undo, recovered] = r.ran;
      const restarts = brokenPod.status.containerStatuses?.[0]?.restartCount ?? 0;
      report(
        `${rolloutLine(`broken release (failing migration) then undo`, r, await replicaSets())}; ` +
          `rollout status: "${stalled!.stderr.trim()}"; broken pod restarts ${restarts}, Ready never`,
      );
      expect(stalled!.code).not.toBe(0);
      expect(stalled!.stderr).toContain('timed out');
      expect(isReady(brokenPod)).toBe(false);
      expect(logs!.stdout + logs!.stderr).toMatch(/migration 99990101000000_broken failed and was rolled back/);
      expect([undo!.code, recovered!.code]).toEqual([0, 0]);
      expect(kinds(failures(r.outcomes))).toBe('none');
      expect(await currentImage()).toBe(image(TAGS.second));
    },
    PHASE_LIMIT_MS + 180_000,
  );
});

describe('7. the HPA on real CPU: metrics-server, scale-out and scale-in under load', () => {
  it('kubectl get hpa,pdb,netpol: accepted and visible; the HPA as the sizing declares it', async () => {
    const r = await sh('kubectl get hpa,pdb,netpol');
    report(`kubectl get hpa,pdb,netpol:\n${r.stdout.trim().replace(/^/gm, '    ')}`);
    expect(r.code).toBe(0);
    for (const kind of [
      'horizontalpodautoscaler.autoscaling',
      'poddisruptionbudget.policy',
      'networkpolicy.networking.k8s.io',
    ]) {
      expect(r.stdout).toContain(`${kind}/${DEPLOYMENT_NAME}`);
    }
    const hpa = await getJson('hpa', DEPLOYMENT_NAME);
    expect(hpa.spec).toMatchObject({ minReplicas: s.minReplicas, maxReplicas: s.maxReplicas });
    // The scale-down window is the cluster-test sizing's own field, synthesized into the HPA.
    expect(hpa.spec.behavior.scaleDown.stabilizationWindowSeconds).toBe(s.scaleDownStabilizationSeconds);
  });

  it('kubectl top pods shows the pod’s CPU (metrics-server behind v1beta1.metrics.k8s.io)', async () => {
    const top = await until(
      'kubectl top pods answers for the release',
      async () => {
        const r = await sh(`kubectl top pods -l ${SELECTOR} --no-headers`);
        return r.code === 0 && /\d+m\s+\d+Mi/.test(r.stdout) ? r.stdout.trim() : undefined;
      },
      120_000,
    );
    report(`kubectl top pods -l ${SELECTOR}: ${top}`);
  });

  it(
    `scales out to ${s.maxReplicas} pods under load and back in after ${s.scaleDownStabilizationSeconds} s of light load, 0 failed requests`,
    async () => {
      await settledAtMinimum();
      await sqlAt(
        dbUrl,
        `INSERT INTO links (slug, url) SELECT 'hpa-' || g, 'https://example.com/hpa/' || g FROM generate_series(1, ${HPA_LINKS}) AS g`,
      );
      const seen: { utilization: number; desired: number }[] = [];
      const watchHpa = async () => {
        const status = (await getJson('hpa', DEPLOYMENT_NAME)).status;
        const utilization = status.currentMetrics?.[0]?.resource?.current?.averageUtilization;
        if (utilization !== undefined) seen.push({ utilization, desired: status.desiredReplicas });
      };
      const started = Date.now();
      let heavy = true;
      let running = true;
      const load = (connections: number, gapMs: number, stopWhen: () => boolean) =>
        keepAliveLoad({
          ...LOAD,
          connections,
          gapMs,
          base: serviceUrl,
          path: HPA_LOAD_PATH,
          durationMs: 8 * 60_000,
          stopWhen,
        });
      const heavyLoad = load(HPA_HEAVY_CONNECTIONS, 0, () => !heavy);
      const out = await until(
        `the HPA scaled out to ${s.maxReplicas} Ready pods`,
        async () => {
          await watchHpa();
          const ready = (await pods(SELECTOR)).filter(isReady);
          return ready.length >= s.maxReplicas ? ready : undefined;
        },
        5 * 60_000,
        () => releaseState(SELECTOR),
      ).catch(async (err: unknown) => {
        // The load is bounded by time only: stop it, so the cases after this one run on a quiet node.
        heavy = false;
        await heavyLoad;
        throw err;
      });
      const outMs = Date.now() - started;
      const atScaleOut = seen.find((x) => x.desired >= s.maxReplicas) ?? seen.at(-1);
      heavy = false;
      const heavyOutcomes = (await heavyLoad).outcomes;
      const lightStarted = Date.now();
      const lightLoad = load(2, 100, () => !running);
      const newest = out[0].metadata.name as string;
      await until(
        `the HPA scaled back in to ${s.minReplicas} pod(s), the others gone`,
        async () => {
          await watchHpa();
          return (await pods(SELECTOR)).length === s.minReplicas;
        },
        6 * 60_000,
        () => releaseState(SELECTOR),
      ).catch(async (err: unknown) => {
        running = false;
        await lightLoad;
        throw err;
      });
      const inMs = Date.now() - lightStarted;
      await new Promise((r) => setTimeout(r, 2_000));
      running = false;
      const lightOutcomes = (await lightLoad).outcomes;
      const all = [...heavyOutcomes, ...lightOutcomes];
      report(
        `HPA: ${HPA_HEAVY_CONNECTIONS} connections through the ClusterIP → ${s.maxReplicas} pods Ready ${(outMs / 1000).toFixed(1)} s after the load started ` +
          `(the HPA saw ${atScaleOut?.utilization}% of the CPU request, target ${s.hpaCpuUtilizationPercent}%; newest pod ${newest}); ` +
          `light load → ${s.minReplicas} pod ${(inMs / 1000).toFixed(1)} s later (scale-down window ${s.scaleDownStabilizationSeconds} s); ` +
          `${all.length} requests, ${failures(all).length} failed (${kinds(all)})`,
      );
      expect(atScaleOut!.utilization).toBeGreaterThan(s.hpaCpuUtilizationPercent);
      expect(inMs).toBeGreaterThanOrEqual(s.scaleDownStabilizationSeconds * 1000);
      expect(kinds(failures(all))).toBe('none');
      expect(lightOutcomes.length).toBeGreaterThan(100);
    },
    12 * 60_000,
  );
});

describe('8. NetworkPolicies enforced (kube-router), pod to pod', () => {
  // Clients from the backend's own image: one the policy names for the API port, one for the
  // metrics port, and a stranger it names for neither; each listens on CLIENT_PORT itself.
  const CLIENT_PORT = 8080;
  const clients = {
    stranger: {},
    'api-client': { ...DEFAULT_API_CLIENT_LABELS },
    scraper: { ...DEFAULT_METRICS_SCRAPER_LABELS },
  } as const;
  type Client = keyof typeof clients;
  const name = (c: Client) => `np-${c}`;
  let backend: { name: string; ip: string };
  const ips: Partial<Record<Client, string>> = {};
  let listeners: Awaited<ReturnType<typeof hostListeners>>;

  beforeAll(async () => {
    await apply(
      Object.entries(clients).map(([c, labels]) =>
        clientPod(name(c as Client), image(TAGS.first), labels, CLIENT_PORT),
      ),
    );
    for (const c of Object.keys(clients) as Client[]) ips[c] = await readyIp(name(c));
    const [pod] = await pods(SELECTOR);
    backend = { name: pod.metadata.name, ip: pod.status.podIP };
    // The pods' DNS port, and one the backend's egress does not allow, on the host side of the pod network.
    listeners = await hostListeners(cluster.HOST_IP!, [DNS_PORT, OTHER_PORT]);
  }, 180_000);
  afterAll(async () => {
    await listeners?.close();
    await sh(
      `kubectl delete pod ${Object.keys(clients)
        .map((c) => name(c as Client))
        .join(' ')} --wait=false`,
    );
  });

  const matrix = async () => ({
    stranger: [
      await reach(name('stranger'), backend.ip, DEFAULT_PORT),
      await reach(name('stranger'), backend.ip, DEFAULT_METRICS_PORT),
    ],
    apiClient: [
      await reach(name('api-client'), backend.ip, DEFAULT_PORT),
      await reach(name('api-client'), backend.ip, DEFAULT_METRICS_PORT),
    ],
    scraper: [
      await reach(name('scraper'), backend.ip, DEFAULT_PORT),
      await reach(name('scraper'), backend.ip, DEFAULT_METRICS_PORT),
    ],
  });

  it('ingress: the API port only from the API clients, the metrics port only from the scrapers, nothing from a stranger', async () => {
    const m = await matrix();
    report(
      `NetworkPolicy ingress to ${backend.name} (ports ${DEFAULT_PORT} API, ${DEFAULT_METRICS_PORT} metrics): ` +
        `stranger ${m.stranger.join('/')}, API client (${labelList(clients['api-client'])}) ${m.apiClient.join('/')}, ` +
        `scraper (${labelList(clients.scraper)}) ${m.scraper.join('/')}`,
    );
    expect(m).toEqual({
      stranger: ['blocked', 'blocked'],
      apiClient: ['open', 'blocked'],
      scraper: ['blocked', 'open'],
    });
  });

  it('egress: the backend reaches PostgreSQL, Redis and DNS, and nothing else', async () => {
    const to = {
      postgres: await reach(backend.name, cluster.HOST_IP!, DEFAULT_DATABASE_PORT),
      redis: await reach(backend.name, cluster.HOST_IP!, DEFAULT_REDIS_PORT),
      dns: await reach(backend.name, cluster.HOST_IP!, DNS_PORT),
      otherHostPort: await reach(backend.name, cluster.HOST_IP!, OTHER_PORT),
      otherPod: await reach(backend.name, ips.stranger!, CLIENT_PORT),
    };
    // The same two targets answer pods the policy does not restrict: they are up, the policy stops the backend.
    const control = [
      await reach(name('stranger'), cluster.HOST_IP!, OTHER_PORT),
      await reach(name('scraper'), ips.stranger!, CLIENT_PORT),
    ];
    report(
      `NetworkPolicy egress from ${backend.name}: PostgreSQL ${to.postgres}, Redis ${to.redis}, DNS ${to.dns}, ` +
        `host port ${OTHER_PORT} ${to.otherHostPort}, another pod ${to.otherPod} (from unrestricted pods: ${control.join('/')})`,
    );
    expect(to).toEqual({ postgres: 'open', redis: 'open', dns: 'open', otherHostPort: 'blocked', otherPod: 'blocked' });
    expect(control).toEqual(['open', 'open']);
  });

  it('the stranger gets in once the policy admits every pod, and is shut out again when it is restored', async () => {
    const original = await getJson('networkpolicy', DEPLOYMENT_NAME);
    const patch = JSON.stringify([{ op: 'replace', path: '/spec/ingress', value: [{}] }]);
    const timed = async (want: Reach) => {
      const t = Date.now();
      await until(
        `the stranger's connection ${want}`,
        async () => (await reach(name('stranger'), backend.ip, DEFAULT_PORT)) === want,
        60_000,
      );
      return Date.now() - t;
    };
    await kubectl('patch', 'networkpolicy', DEPLOYMENT_NAME, '--type', 'json', '-p', patch);
    const openMs = await timed('open');
    await kubectl(
      'patch',
      'networkpolicy',
      DEPLOYMENT_NAME,
      '--type',
      'json',
      '-p',
      JSON.stringify([{ op: 'replace', path: '/spec/ingress', value: original.spec.ingress }]),
    );
    const closedMs = await timed('blocked');
    report(
      `NetworkPolicy allow-all: the stranger reached port ${DEFAULT_PORT} within ${(openMs / 1000).toFixed(1)} s; policy restored: blocked again within ${(closedMs / 1000).toFixed(1)} s`,
    );
    expect((await getJson('networkpolicy', DEPLOYMENT_NAME)).spec.ingress).toEqual(original.spec.ingress);
    expect(await matrix()).toEqual({
      stranger: ['blocked', 'blocked'],
      apiClient: ['open', 'blocked'],
      scraper: ['blocked', 'open'],
    });
  }, 180_000);
});

describe('9. production scheduling, simulated on kubemark hollow nodes in 3 zones', () => {
  // Hollow nodes run the kubelet's code with a fake runtime: their pods are scheduled, Running and
  // Ready as far as the API says, but no container runs. Every traffic figure above is the real node's.
  const SIM = 'boltlink-prod-sim';
  const ZONES = ['zone-a', 'zone-b', 'zone-c'];
  const NODES_PER_ZONE = 3;
  const sim = (cmd: string, timeoutMs?: number) => sh(`kubectl -n ${SIM} ${cmd}`, timeoutMs);
  let hollow: string[];
  let prod: { maxReplicas: number; pdbMaxUnavailable: number; maxSkew: number[] };

  beforeAll(async () => {
    const r = await sh(`infra/cluster/hollow.sh ${ZONES.map((z) => `${z}:${NODES_PER_ZONE}`).join(' ')}`, 300_000);
    expect(r).toMatchObject({ code: 0 });
    hollow = r.stdout.trim().split('\n');
    await kubectl('create', 'namespace', SIM);
    await kubectl(
      'label',
      'namespace',
      SIM,
      ...Object.entries(RESTRICTED_NAMESPACE_LABELS).map(([k, v]) => `${k}=${v}`),
    );
    // Hollow pods start no container, but the kubelet still resolves their env: the Secrets exist, with placeholders.
    for (const [secret, key] of [
      ['db-secrets', 'url'],
      ['redis-secrets', 'url'],
      ['boltlink-api-tokens', 'tokens'],
    ]) {
      await kubectl(
        '-n',
        SIM,
        'create',
        'secret',
        'generic',
        secret!,
        `--from-literal=${key}=placeholder-hollow-pods-run-no-container`,
      );
    }
    const applied = await sim('apply -f charts-out');
    expect({ code: applied.code, stderr: applied.stderr }).toEqual({ code: 0, stderr: '' });
    const [hpa, pdb, deployment] = [
      await getJson('-n', SIM, 'hpa', DEPLOYMENT_NAME),
      await getJson('-n', SIM, 'pdb', DEPLOYMENT_NAME),
      await getJson('-n', SIM, 'deployment', DEPLOYMENT_NAME),
    ];
    prod = {
      maxReplicas: hpa.spec.maxReplicas,
      pdbMaxUnavailable: pdb.spec.maxUnavailable,
      maxSkew: deployment.spec.template.spec.topologySpreadConstraints.map((c: any) => c.maxSkew),
    };
    report(
      `simulation: ${hollow.length} kubemark hollow nodes (${ZONES.join(', ')}; each declares ${cluster.HOLLOW_NODE_CPU} CPUs, ${cluster.HOLLOW_NODE_MEMORY}; ` +
        `fake runtime: their pods run no container, no traffic reaches them); kubectl apply -n ${SIM} -f charts-out (the prod release, restricted Pod Security)`,
    );
  }, 360_000);

  /** Ready pods of the simulated release per zone and node, and the table make cluster-test prints. */
  const placement = async () => {
    const nodes = (await getJson('nodes', '-l', 'boltlink.dev/hollow=true')).items as any[];
    const zoneOf = new Map(
      nodes.map((n) => [n.metadata.name as string, n.metadata.labels['topology.kubernetes.io/zone'] as string]),
    );
    const list = ((await getJson('-n', SIM, 'pods', '-l', SELECTOR)).items as any[]).filter(
      (p) => !p.metadata.deletionTimestamp,
    );
    const ready = list.filter(isReady);
    const byNode = new Map(nodes.map((n) => [n.metadata.name as string, 0]));
    for (const p of ready) byNode.set(p.spec.nodeName, (byNode.get(p.spec.nodeName) ?? 0) + 1);
    const byZone = new Map(ZONES.map((z) => [z, 0]));
    for (const [node, n] of byNode) byZone.set(zoneOf.get(node)!, byZone.get(zoneOf.get(node)!)! + n);
    const schedulable = nodes.filter((n) => !n.spec.unschedulable).map((n) => n.metadata.name as string);
    const table = ZONES.map(
      (z) =>
        `    ${z}: ${byZone.get(z)} pods — ${[...byNode]
          .filter(([node]) => zoneOf.get(node) === z)
          .map(([node, n]) => `${node} ${n}`)
          .join(', ')}`,
    ).join('\n');
    return { ready: ready.length, pending: list.length - ready.length, byNode, byZone, schedulable, table };
  };
  const skew = (counts: Iterable<number>) => Math.max(...counts) - Math.min(...counts);

  it('the prod release at its HPA maximum spreads as its topologySpreadConstraints declare', async () => {
    // The HPA itself scales to its maximum once its minimum is raised to it (no CPU samples reach it from hollow pods).
    await kubectl(
      '-n',
      SIM,
      'patch',
      'hpa',
      DEPLOYMENT_NAME,
      '--type',
      'merge',
      '-p',
      JSON.stringify({ spec: { minReplicas: prod.maxReplicas } }),
    );
    const at = await until(
      `${prod.maxReplicas} pods Ready`,
      async () => {
        const p = await placement();
        return p.ready === prod.maxReplicas ? p : undefined;
      },
      180_000,
    );
    report(
      `simulation: the HPA's maximum, ${prod.maxReplicas} pods, placed (topologySpreadConstraints maxSkew ${prod.maxSkew.join(', ')} by node and zone):\n${at.table}`,
    );
    expect(skew(at.byZone.values())).toBeLessThanOrEqual(prod.maxSkew[1]!);
    expect(skew(at.byNode.values())).toBeLessThanOrEqual(prod.maxSkew[0]!);
  }, 240_000);

  it('kubectl drain of nodes one by one respects the PDB: evictions refused while its budget is spent, the drain done once replacements have room, every pod Ready after', async () => {
    const drain = (node: string, timeoutS: number) =>
      sh(
        `kubectl drain ${node} --ignore-daemonsets --delete-emptydir-data --timeout=${timeoutS}s`,
        (timeoutS + 30) * 1000,
      );
    const refusals = (out: string) =>
      (out.match(/Cannot evict pod as it would violate the pod's disruption budget/g) ?? []).length;
    const lines: string[] = [];
    // One node per zone while the pool has room: each drain moves its pods and ends.
    const first = ZONES.map((z) => hollow.find((n) => n.startsWith(`hollow-${z}-`))!);
    for (const node of first) {
      const t = Date.now();
      const r = await drain(node, 120);
      expect(r).toMatchObject({ code: 0 });
      lines.push(
        `kubectl drain ${node}: done in ${((Date.now() - t) / 1000).toFixed(1)} s, ${refusals(r.stdout + r.stderr)} evictions refused`,
      );
    }
    const full = await placement();
    expect(full.ready).toBe(prod.maxReplicas);
    // The pool is now full: the next drain's replacement cannot be scheduled, so the PDB
    // (maxUnavailable 1) holds every further eviction until the first drained node comes back.
    const node = full.schedulable.find((n) => (full.byNode.get(n) ?? 0) >= 2)!;
    let lowest = prod.maxReplicas;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        lowest = Math.min(lowest, (await placement()).ready);
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    const t = Date.now();
    const blocked = drain(node, 180);
    await until(
      'an eviction refused by the PDB while a replacement waits for room',
      async () => (await placement()).pending > 0,
      60_000,
    );
    await new Promise((r) => setTimeout(r, 12_000));
    await kubectl('uncordon', first[0]!);
    const r = await blocked;
    sampling = false;
    await sampler;
    // The drain ends when its last eviction is done; that pod's replacement may be a moment from Ready.
    const end = await until(
      `all ${prod.maxReplicas} pods Ready again after the drain`,
      async () => {
        const now = await placement();
        return now.ready === prod.maxReplicas ? now : undefined;
      },
      60_000,
      async () => (await placement()).table,
    );
    lines.push(
      `kubectl drain ${node} with the pool full: ${refusals(r.stdout + r.stderr)} evictions refused by the PDB until ${first[0]} was uncordoned; ` +
        `done in ${((Date.now() - t) / 1000).toFixed(1)} s; Ready pods never below ${lowest} (PDB: at most ${prod.pdbMaxUnavailable} unavailable of ${prod.maxReplicas})`,
    );
    report(`simulation: ${lines.join('\n    ')}\n  placement after the drains:\n${end.table}`);
    expect(r).toMatchObject({ code: 0 });
    expect(refusals(r.stdout + r.stderr)).toBeGreaterThan(0);
    expect(lowest).toBeGreaterThanOrEqual(prod.maxReplicas - prod.pdbMaxUnavailable);
  }, 600_000);
});

const labelList = (labels: Record<string, string>) =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
