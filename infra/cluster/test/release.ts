import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { sizingFor } from '../../../common/sizing';
import httpRouteSchema from '../../imports/httproute-v1.schema.json';
import { failures, keepAliveLoad, kinds, startPrivatePostgres, type Outcome } from '../../../test-support/faults';
import { sqlAt, startPrivateRedis, TOKEN } from '../../../test-support/service';
import { DEFAULT_DATABASE_PORT, DEFAULT_REDIS_PORT } from '../../chart';
import { DEPLOYMENT_NAME } from '../../names';
import { RESTRICTED_NAMESPACE_LABELS } from '../../pod-security';
import { cluster, getJson, isReady, kubectl, pods, releaseState, sh, until, type Ran } from './kube';

/**
 * The release the cluster suite's sections share, in order: what the setup
 * made (PostgreSQL and Redis for the pods, the images, the namespace, the
 * Secrets) and what a section leaves for the next (the Service's address, the
 * link the rollouts redirect), with the constants and helpers they all use.
 */

/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects are plain JSON */
export const ENV = 'cluster-test';
export const s = sizingFor(ENV);
export const NAMESPACE = 'boltlink';
export const OUT = `charts-out.${ENV}`;
export const SELECTOR = `app.kubernetes.io/name=${DEPLOYMENT_NAME}`;
export const TAGS = {
  first: 'cluster-test-1',
  second: 'cluster-test-2',
  broken: 'cluster-test-broken',
  expand: 'cluster-test-expand',
  contract: 'cluster-test-contract',
  /** The contract release under another tag: the edge section's rollout (its migrations are the database's). */
  edge: 'cluster-test-edge',
} as const;
/** The broken release's migration, which fails (section 6). */
export const BROKEN_MIGRATION = '99990101000000_broken';
/** The schema change the expand/contract section rolls out: each release's migration, by name. */
export const SCHEMA_CHANGE = {
  expand: {
    name: '99990201000000_links_host',
    // A column the running code does not read, filled in throttled batches by primary key that commit as they
    // go (10,000 rows, then 0.6 s for the click flush and the replicas to keep up), then indexed without
    // blocking writes: on a million links, longer than the start-up budget, well inside the migration budget.
    sql: `-- boltlink: no-transaction
ALTER TABLE links ADD COLUMN IF NOT EXISTS host TEXT;
DO $$
DECLARE
  last_id bigint := 0;
  max_id bigint;
BEGIN
  SELECT coalesce(max(id), 0) INTO max_id FROM links;
  WHILE last_id < max_id LOOP
    UPDATE links SET host = lower(substring(url from '^https?://([^/:?#]+)'))
    WHERE id > last_id AND id <= last_id + 10000 AND host IS NULL;
    last_id := last_id + 10000;
    COMMIT;
    PERFORM pg_sleep(0.6);
  END LOOP;
END $$;
CREATE INDEX CONCURRENTLY IF NOT EXISTS links_host_idx ON links (host);
`,
  },
  contract: {
    name: '99990301000000_drop_unused_expiry_index',
    // What no query of this release uses any more goes, without blocking writes.
    sql: `-- boltlink: no-transaction
DROP INDEX CONCURRENTLY IF EXISTS links_expires_at_idx;
`,
  },
} as const;
export const image = (tag: string) => `boltlink-backend:${tag}`;
/** The release's public origin (a host of the reserved .test domain): the Ingress's host and the edge's TLS name. */
export const PUBLIC_BASE_URL = 'https://links.cluster.test';

/** The Gateway API release the chart's HTTPRoute is imported from (infra/imports/import.sh). */
export const GATEWAY_API_VERSION = httpRouteSchema.gatewayApiVersion;
/**
 * That release's standard-channel CRDs, from the Go module proxy (the module carries them; go
 * checks them against the checksum database): the folder kubectl applies.
 */
export async function gatewayApiCrds(): Promise<string> {
  const r = await sh(`go mod download -json sigs.k8s.io/gateway-api@${GATEWAY_API_VERSION}`, 180_000);
  if (r.code !== 0) throw new Error(`go mod download sigs.k8s.io/gateway-api@${GATEWAY_API_VERSION}: ${r.stderr}`);
  return path.join((JSON.parse(r.stdout) as { Dir: string }).Dir, 'config/crd/standard');
}
/** Load for the rollouts: bounded in connections, requests and time; a failure is any error, timeout or 5xx. */
export const LOAD = { connections: 8, maxRequests: 2_000_000, timeoutMs: 5_000 } as const;
export const PHASE_LIMIT_MS = 5 * 60_000;

/** One line per proof for the summary make cluster-test prints (CLUSTER_SUMMARY names the file). */
export function report(line: string): void {
  process.stdout.write(`${line}\n`);
  if (process.env.CLUSTER_SUMMARY) appendFileSync(process.env.CLUSTER_SUMMARY, `${line}\n`);
}

/** A namespace labelled for Pod Security restricted (enforce, warn, audit), as the chart labels its own. */
export async function restrictedNamespace(name: string): Promise<void> {
  await kubectl('create', 'namespace', name);
  await kubectl(
    'label',
    'namespace',
    name,
    ...Object.entries(RESTRICTED_NAMESPACE_LABELS).map(([k, v]) => `${k}=${v}`),
  );
}

export interface Release {
  /** PostgreSQL's URL for the release's database (on the host side of the pod network). */
  dbUrl: string;
  /** The Service's ClusterIP URL, once section 2 has seen the release Ready. */
  serviceUrl: string;
  /** The link the rollouts' load redirects, once section 4 has created it. */
  slug: string;
  /** A temporary folder, removed after the suite. */
  tmp(): string;
}

/**
 * The fixture: before the sections, PostgreSQL and Redis for the pods, the
 * derived images (a second release, a broken one), `make synth` of the
 * cluster-test release, its namespace (the kubectl context's) and Secrets;
 * after them, what the setup started. Call once, in the suite's index.
 */
export function releaseFixture(): Release {
  const made: string[] = [];
  let pg: Awaited<ReturnType<typeof startPrivatePostgres>> | undefined;
  let redis: Awaited<ReturnType<typeof startPrivateRedis>> | undefined;
  const release: Release = {
    dbUrl: '',
    serviceUrl: '',
    slug: '',
    tmp() {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'cluster-test-'));
      made.push(dir);
      return dir;
    },
  };
  beforeAll(async () => {
    // PostgreSQL and Redis for the pods, on the host side of the pod network, on the ports the chart's
    // NetworkPolicy lets the pods reach (the policy agent enforces it).
    pg = await startPrivatePostgres({ host: cluster.HOST_IP, trust: cluster.POD_CIDR, port: DEFAULT_DATABASE_PORT });
    await sqlAt(pg.url, 'CREATE DATABASE boltlink');
    release.dbUrl = pg.dbUrl('boltlink');
    redis = await startPrivateRedis(DEFAULT_REDIS_PORT, cluster.HOST_IP);
    await buildDerivedImages(release);

    const synth = await sh(`BOLTLINK_PUBLIC_BASE_URL=${PUBLIC_BASE_URL} make synth ENV=${ENV} TAG=${TAGS.first}`);
    expect(synth).toMatchObject({ code: 0 });
    await restrictedNamespace(NAMESPACE);
    // The guide's commands carry no -n: the operator's context names the namespace.
    await kubectl('config', 'set-context', '--current', `--namespace=${NAMESPACE}`);
    await kubectl('create', 'secret', 'generic', 'db-secrets', `--from-literal=url=${release.dbUrl}`);
    await kubectl('create', 'secret', 'generic', 'redis-secrets', `--from-literal=url=${redis.url}`);
    await kubectl('create', 'secret', 'generic', 'boltlink-api-tokens', `--from-literal=tokens=${TOKEN}`);
  }, 15 * 60_000);
  afterAll(async () => {
    await pg?.destroy();
    await redis?.stop();
    made.forEach((d) => rmSync(d, { recursive: true, force: true }));
  });
  return release;
}

async function buildDerivedImages(release: Release): Promise<void> {
  // The same code under a new tag and label (a rollout needs a different image).
  const relabelled = (from: string, tag: string) => {
    const dir = release.tmp();
    writeFileSync(path.join(dir, 'Dockerfile'), `FROM ${image(from)}\nLABEL org.opencontainers.image.version=${tag}\n`);
    return dir;
  };
  // A broken release: a migration that fails, so its pods never become Ready.
  const broken = release.tmp();
  writeFileSync(path.join(broken, 'migration.sql'), 'SELECT * FROM a_table_that_does_not_exist;\n');
  writeFileSync(
    path.join(broken, 'Dockerfile'),
    `FROM ${image(TAGS.first)}\nCOPY migration.sql dist/service/prisma/migrations/${BROKEN_MIGRATION}/migration.sql\n`,
  );
  // The expand release ships its migration; the contract release ships it and its own.
  const migrationsIn = (changes: (keyof typeof SCHEMA_CHANGE)[]) => {
    const dir = release.tmp();
    const copies = changes.map((c) => {
      const { name, sql } = SCHEMA_CHANGE[c];
      writeFileSync(path.join(dir, `${name}.sql`), sql);
      return `COPY ${name}.sql dist/service/prisma/migrations/${name}/migration.sql`;
    });
    writeFileSync(path.join(dir, 'Dockerfile'), `FROM ${image(TAGS.first)}\n${copies.join('\n')}\n`);
    return dir;
  };
  for (const [tag, dir] of [
    [TAGS.second, relabelled(TAGS.first, TAGS.second)],
    [TAGS.broken, broken],
    [TAGS.expand, migrationsIn(['expand'])],
    [TAGS.contract, migrationsIn(['expand', 'contract'])],
    [TAGS.edge, relabelled(TAGS.contract, TAGS.edge)],
  ] as const) {
    const r = await sh(`docker build --network host -q -t ${image(tag)} ${dir}`, 600_000);
    if (r.code !== 0) throw new Error(`docker build ${tag}: ${r.stderr}`);
  }
  const imported = await sh(`infra/cluster/images.sh ${Object.values(TAGS).map(image).join(' ')}`, 600_000);
  if (imported.code !== 0) throw new Error(`images.sh: ${imported.stderr}`);
}

/** Replica sets of the Deployment with their image and replicas, for the report. */
export async function replicaSets(): Promise<string> {
  const list = await getJson('rs', '-l', SELECTOR);
  return (list.items as any[])
    .map(
      (rs) =>
        `${rs.metadata.name} (${rs.spec.template.spec.containers[0].image.split(':')[1]}: ${rs.status.replicas ?? 0})`,
    )
    .join(', ');
}

/** Where a load enters: the Service's ClusterIP unless `base` (and `agent` for it) say otherwise, e.g. the edge. */
export interface Entry {
  readonly base?: string;
  readonly agent?: () => http.Agent;
}

/**
 * Keep-alive load while `action` runs, and for 2 s after it, through the Service's ClusterIP (or
 * `entry`): as fast as the pods answer, or with `gapMs` between each connection's requests (a
 * steady rate that one pod serves under the HPA's target, for an action as long as a migration).
 */
export async function underLoad(
  release: Release,
  action: () => Promise<Ran[]>,
  pace: { gapMs?: number } & Entry = {},
): Promise<{ outcomes: Outcome[]; ran: Ran[]; ms: number }> {
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
      base: release.serviceUrl,
      ...pace,
      path: () => `/${release.slug}`,
      durationMs: PHASE_LIMIT_MS,
      stopWhen: () => done,
    }),
    act,
  ]);
  return { outcomes, ran, ms: Date.now() - started };
}

export const rolloutLine = (
  what: string,
  r: { outcomes: Outcome[]; ms: number },
  sets: string,
  via = 'through the ClusterIP',
) =>
  `${what}: ${r.outcomes.length} requests ${via} in ${(r.ms / 1000).toFixed(1)} s, ` +
  `${failures(r.outcomes).length} failed (${kinds(r.outcomes)}), ${r.outcomes.filter((o) => o.error === 'TIMEOUT').length} timeouts; replica sets: ${sets}`;

export const currentImage = async () =>
  (await getJson('deployment', DEPLOYMENT_NAME)).spec.template.spec.containers[0].image as string;
/**
 * Waits until the HPA has settled at its minimum: load is real CPU, so the HPA may have scaled
 * out meanwhile and will scale back in after the sizing's window; the tests that follow act on
 * one pod and must not have it removed under them.
 */
export async function settledAtMinimum(): Promise<number> {
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
