import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { failures, keepAliveLoad, kinds, request } from '../../../../test-support/faults';
import { TOKEN } from '../../../../test-support/service';
import { CONTAINER_NAME, DEPLOYMENT_NAME } from '../../../names';
import { bin, getJson, ROOT, sh, until } from '../kube';
import { apply, clientPod, readyIp } from '../netpol';
import {
  currentImage,
  image,
  LOAD,
  NAMESPACE,
  PHASE_LIMIT_MS,
  PUBLIC_BASE_URL,
  replicaSets,
  report,
  rolloutLine,
  s,
  TAGS,
  underLoad,
  type Entry,
  type Release,
} from '../release';
import { expectAnswered, HPA_CYCLE_LIMIT_MS, scaleOutThenIn } from './7-hpa';

/**
 * The public edge: Traefik, built here from the Go module proxy, run as a
 * cluster runs it (infra/cluster/traefik/traefik.yaml), serving the release's
 * Ingress (from charts-out) and its HTTPRoute (charts-out/gateway) attached to
 * a Gateway, over TLS with a certificate this section makes. Load enters
 * through Traefik's Service, not the release's; while it runs, the section
 * watches how long Traefik keeps routing to a pod the EndpointSlice has
 * already taken out (its endpoint-update lag), which the preStop delay covers.
 */

/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects and Traefik's API are plain JSON */
const TRAEFIK_DIR = path.join(ROOT, 'infra/cluster/traefik');
/** The Traefik release the edge runs: the one infra/cluster/traefik/go.mod builds. */
const TRAEFIK_VERSION = /github\.com\/traefik\/traefik\/v3 (v\S+)/.exec(
  readFileSync(path.join(TRAEFIK_DIR, 'go.mod'), 'utf8'),
)![1]!;
const TRAEFIK_IMAGE = `boltlink-test-traefik:${TRAEFIK_VERSION}`;
const TRAEFIK_MANIFEST = readFileSync(path.join(TRAEFIK_DIR, 'traefik.yaml'), 'utf8');
/**
 * Traefik's Service ports by name (traefik.yaml): `websecure`, the Ingress's entry point; `gateway`,
 * the entry point the Gateway's HTTPS listener names by its port; `traefik`, its API (the servers
 * each of its services routes to).
 */
const PORTS = Object.fromEntries(
  parseAllDocuments(TRAEFIK_MANIFEST)
    .map((d) => d.toJSON())
    .find((o) => o?.kind === 'Service')
    .spec.ports.map((p: any) => [p.name, p]),
) as Record<'websecure' | 'gateway' | 'traefik', { port: number; targetPort: number }>;
const HOST = new URL(PUBLIC_BASE_URL).hostname;
/** One round of the side-by-side redirect rates. */
const RATE_ROUND_MS = 5_000;

/** Resolves every name to `ip`: the public host, as a DNS record pointing at the edge would. */
const pinnedTo =
  (ip: string): LookupFunction =>
  (_hostname, options, callback) =>
    options.all ? callback(null, [{ address: ip, family: 4 }]) : callback(null, ip, 4);

export function edge(release: Release): void {
  describe('7b. the public edge: Traefik in front, over TLS, through the Ingress and the HTTPRoute', () => {
    let traefikIp = '';
    let ca = '';
    /** Through the Ingress (Traefik's websecure port) or the Gateway's, with the public host's name and the test's CA. */
    const entry = (port = PORTS.websecure.port): Entry => ({
      base: new URL(`${PUBLIC_BASE_URL}:${port}`).origin,
      agent: () => new https.Agent({ keepAlive: true, maxSockets: 1, ca, lookup: pinnedTo(traefikIp) }),
    });
    /** One request through `e`, on a connection of its own (closed after it). */
    const get = (e: Entry, urlPath: string, init: Parameters<typeof request>[3] = {}) =>
      request(`${e.base}${urlPath}`, new https.Agent({ ca, lookup: pinnedTo(traefikIp) }), 5_000, init);

    beforeAll(async () => {
      // The controller: Traefik's binary (build.sh) in an image of that one file, imported into the node.
      const context = release.tmp();
      copyFileSync(path.join(bin, 'traefik'), path.join(context, 'traefik'));
      writeFileSync(
        path.join(context, 'Dockerfile'),
        'FROM scratch\nCOPY traefik /traefik\nUSER 65532:65532\nENTRYPOINT ["/traefik"]\n',
      );
      for (const step of [
        `docker build --network host -q -t ${TRAEFIK_IMAGE} ${context}`,
        `infra/cluster/images.sh ${TRAEFIK_IMAGE}`,
      ]) {
        const r = await sh(step, 600_000);
        if (r.code !== 0) throw new Error(`${step}: ${r.stderr}`);
      }
      // The public host's certificate, from a CA of this test's own: the Ingress's and the Gateway's TLS Secret.
      const pki = release.tmp();
      const made = await sh(
        [
          `cd ${pki}`,
          'openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=boltlink-edge-test-ca -keyout ca.key -out ca.crt',
          `openssl req -newkey rsa:2048 -nodes -subj /CN=${HOST} -keyout tls.key -out tls.csr`,
          `printf 'subjectAltName=DNS:${HOST}\\n' > san.ext`,
          'openssl x509 -req -days 1 -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -extfile san.ext -out tls.crt',
        ].join(' && '),
      );
      if (made.code !== 0) throw new Error(`openssl: ${made.stderr}`);
      ca = readFileSync(path.join(pki, 'ca.crt'), 'utf8');
      const ingress = await getJson('ingress', DEPLOYMENT_NAME);
      const secret = ingress.spec.tls[0].secretName as string;
      expect(ingress.spec.rules[0].host).toBe(HOST);
      expect(await sh(`kubectl create secret tls ${secret} --cert=${pki}/tls.crt --key=${pki}/tls.key`)).toMatchObject({
        code: 0,
      });

      const manifest = TRAEFIK_MANIFEST.replace('image: IMAGE', `image: ${TRAEFIK_IMAGE}`);
      const applied = await sh(`kubectl apply -f - <<'EOF'\n${manifest}EOF`);
      if (applied.code !== 0) throw new Error(`kubectl apply traefik.yaml: ${applied.stderr}`);
      expect(await sh('kubectl -n traefik rollout status deployment/traefik --timeout=120s', 150_000)).toMatchObject({
        code: 0,
      });
      traefikIp = (await getJson('service', 'traefik', '-n', 'traefik')).spec.clusterIP;

      // The platform's Gateway, which the release's HTTPRoute names (charts-out/gateway: parentRefs boltlink).
      const route = await getJson('httproute', DEPLOYMENT_NAME);
      await apply([
        {
          apiVersion: 'gateway.networking.k8s.io/v1',
          kind: 'Gateway',
          metadata: { name: route.spec.parentRefs[0].name, namespace: NAMESPACE },
          spec: {
            gatewayClassName: 'traefik',
            listeners: [
              {
                name: 'https',
                protocol: 'HTTPS',
                port: PORTS.gateway.targetPort,
                hostname: HOST,
                tls: { mode: 'Terminate', certificateRefs: [{ kind: 'Secret', name: secret }] },
                allowedRoutes: { namespaces: { from: 'Same' } },
              },
            ],
          },
        },
      ]);
      expect(
        await sh(
          `kubectl wait --for=condition=Programmed --timeout=120s gateway/${route.spec.parentRefs[0].name}`,
          150_000,
        ),
      ).toMatchObject({ code: 0 });
      // Each way in answers the rollouts' link before the proofs start.
      for (const e of [entry(), entry(PORTS.gateway.port)]) {
        await until(
          `${e.base}/${release.slug} answers through Traefik`,
          async () => {
            const r = await get(e, `/${release.slug}`);
            if (r.status === undefined || r.status >= 400) throw new Error(`${r.status ?? r.error} ${r.body ?? ''}`);
            return r;
          },
          120_000,
          () => traefikState(traefikIp),
        );
      }
    }, 15 * 60_000);

    afterAll(async () => {
      await sh('kubectl delete pod -l app.kubernetes.io/part-of=edge-test --ignore-not-found', 120_000);
      await sh('kubectl delete namespace traefik --ignore-not-found --wait=true', 180_000);
    });

    it('redirects keep the service’s status and Location; an API-made short URL works at the edge', async () => {
      const direct = await request(`${release.serviceUrl}/${release.slug}`, undefined, 5_000);
      const missing = await request(`${release.serviceUrl}/no-such-link-at-the-edge`, undefined, 5_000);
      for (const e of [entry(), entry(PORTS.gateway.port)]) {
        const r = await get(e, `/${release.slug}`);
        expect({ status: r.status, location: r.headers?.location }).toEqual({
          status: direct.status,
          location: direct.headers?.location,
        });
        const notFound = await get(e, '/no-such-link-at-the-edge');
        expect({ status: notFound.status, body: notFound.body }).toEqual({ status: 404, body: missing.body });
      }
      const created = await get(entry(), '/api/links', {
        method: 'POST',
        body: JSON.stringify({ url: 'https://example.com/through-the-edge' }),
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      });
      expect(created.status).toBe(201);
      const shortUrl = JSON.parse(created.body!).shortUrl as string;
      expect(shortUrl.startsWith(`${PUBLIC_BASE_URL}/`)).toBe(true);
      const followed = await get(entry(), new URL(shortUrl).pathname);
      expect(followed.headers?.location).toBe('https://example.com/through-the-edge');
      report(
        `edge: Traefik ${TRAEFIK_VERSION} over TLS, through the Ingress (:${PORTS.websecure.port}) and the HTTPRoute (Gateway :${PORTS.gateway.port}): ` +
          `redirect ${direct.status} Location ${direct.headers?.location} and the 404 body identical to the ClusterIP's; ` +
          `a short URL made through the edge (${shortUrl}) redirects there`,
      );
    });

    it('/metrics is not reachable through the edge, and a request for another host is refused', async () => {
      const direct = await request(`${release.serviceUrl}/metrics`, undefined, 5_000);
      const lines: string[] = [];
      for (const e of [entry(), entry(PORTS.gateway.port)]) {
        const metrics = await get(e, '/metrics');
        expect({ status: metrics.status, body: metrics.body }).toEqual({ status: 404, body: direct.body });
        expect(metrics.body).not.toContain('# TYPE');
        // Another name pointed at the edge: no router has it (Traefik's default certificate, so no verification)...
        const port = new URL(e.base!).port;
        const other = await request(
          `https://another.example.org${port ? `:${port}` : ''}/${release.slug}`,
          new https.Agent({ lookup: pinnedTo(traefikIp), rejectUnauthorized: false }),
          5_000,
        );
        // ...and the public host's TLS name with another Host header (node takes the TLS name from a Host header
        // unless told otherwise).
        const fronted = await request(
          `${e.base}/${release.slug}`,
          new https.Agent({ ca, servername: HOST, lookup: pinnedTo(traefikIp) }),
          5_000,
          { headers: { host: 'another.example.org' } },
        );
        for (const r of [other, fronted]) {
          expect({ answer: r.status ?? r.error, body: r.body }).toEqual({ answer: 404, body: '404 page not found\n' });
        }
        lines.push(
          `:${port || PORTS.websecure.port} ${other.status} "${other.body!.trim()}", by Host header ${fronted.status}`,
        );
      }
      report(`edge: /metrics 404 through the edge (the service's own 404: no route reaches the metrics port)`);
      report(`edge: another host refused by Traefik (${lines.join('; ')}), never the service's answer`);
    });

    it('the redirect rate through the edge, beside the rate at the Service, in one run', async () => {
      // Alternating rounds of the rollouts' load (LOAD.connections keep-alive connections from the node, one pod).
      const rates: Record<'service' | 'edge', number[]> = { service: [], edge: [] };
      for (let round = 0; round < 3; round++) {
        for (const [name, e] of [
          ['service', {}],
          ['edge', entry()],
        ] as const satisfies readonly (readonly [string, Entry])[]) {
          const started = Date.now();
          const { outcomes } = await keepAliveLoad({
            ...LOAD,
            base: e.base ?? release.serviceUrl,
            agent: e.agent,
            path: () => `/${release.slug}`,
            durationMs: RATE_ROUND_MS,
          });
          expect(kinds(failures(outcomes))).toBe('none');
          rates[name].push((outcomes.length * 1000) / (Date.now() - started));
        }
      }
      const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
      const [service, atEdge] = [median(rates.service), median(rates.edge)];
      report(
        `edge: redirect rate through traefik (TLS) ${Math.round(atEdge)} req/s beside ${Math.round(service)} req/s at the Service's ClusterIP ` +
          `(${(atEdge / service).toFixed(2)}×; ${LOAD.connections} keep-alive connections from the node, one pod, median of 3 alternating ${RATE_ROUND_MS / 1000}-s rounds)`,
      );
      expect(atEdge).toBeGreaterThan(0);
    }, 120_000);

    it('the per-client rate limit counts the real client address through the proxy: two clients, two budgets', async () => {
      const names = ['edge-client-a', 'edge-client-b'];
      await apply(
        names.map((name) => ({
          ...clientPod(name, image(TAGS.first), { 'app.kubernetes.io/name': name }, 8080),
          metadata: { name, labels: { 'app.kubernetes.io/part-of': 'edge-test' } },
        })),
      );
      const [ipA] = await Promise.all(names.map((n) => readyIp(n)));
      // Creates from inside a pod, one at a time over one TLS connection, to Traefik's Service.
      const creates = async (pod: string, max: number, untilLimited: boolean, headers: Record<string, string>) => {
        const script = `
          const https = require('node:https');
          const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: ${JSON.stringify(ca)}, servername: '${HOST}' });
          const one = () => new Promise((resolve) => {
            const req = https.request({ host: '${traefikIp}', port: ${PORTS.websecure.port}, path: '/api/links', method: 'POST', agent,
              headers: { host: '${HOST}', authorization: 'Bearer ${TOKEN}', 'content-type': 'application/json', ...${JSON.stringify(headers)} } },
              (res) => { res.resume(); res.on('end', () => resolve({ status: res.statusCode, limit: res.headers['ratelimit-limit'] })); });
            req.on('error', (e) => resolve({ status: e.code }));
            req.end(JSON.stringify({ url: 'https://example.com/edge-rate' }));
          });
          (async () => {
            const seen = [];
            for (let i = 0; i < ${max}; i++) {
              const r = await one();
              seen.push(r);
              if (${untilLimited} && r.status === 429) break;
            }
            console.log(JSON.stringify(seen));
          })();`;
        const r = await sh(`kubectl exec -i ${pod} -- node - <<'EOF'\n${script}\nEOF`, 180_000);
        if (r.code !== 0) throw new Error(`kubectl exec ${pod}: ${r.stderr}`);
        return JSON.parse(r.stdout) as { status: number | string; limit?: string }[];
      };
      let a: Awaited<ReturnType<typeof creates>>;
      let b: Awaited<ReturnType<typeof creates>>;
      try {
        a = await creates(names[0]!, 600, true, {});
        // B right after A's 429: two of its creates claim A's address, which Traefik must not pass on as the client's.
        b = [
          ...(await creates(names[1]!, 3, false, {})),
          ...(await creates(names[1]!, 2, false, { 'x-forwarded-for': ipA! })),
        ];
      } finally {
        // Their CPU requests would take the surge pod's room on the one node.
        await sh(`kubectl delete pod ${names.join(' ')} --wait=true`, 120_000);
      }
      const limit = Number(a[0]!.limit);
      const created = a.filter((x) => x.status === 201).length;
      report(
        `edge: rate limit per client: A (${ipA}) 429 after ${created} creates (RateLimit-Limit ${limit}), ` +
          `B ${b.every((x) => x.status === 201) ? 'unaffected' : 'limited too'}: ${b.filter((x) => x.status === 201).length} of ${b.length} created, 2 of them claiming A's address in X-Forwarded-For`,
      );
      expect(a.at(-1)!.status).toBe(429);
      // A fixed window may turn during A's run: at most two windows' budgets.
      expect(created).toBeGreaterThanOrEqual(limit);
      expect(created).toBeLessThanOrEqual(2 * limit);
      expect(b.map((x) => x.status)).toEqual([201, 201, 201, 201, 201]);
    }, 300_000);

    it(
      `the guide's kubectl set image through the edge, then rollout undo: 0 failed; Traefik's endpoint lag within preStop (${s.preStopDelaySeconds} s)`,
      async () => {
        const [{ forward, back }, seen] = await watchingEndpointLag(traefikIp, 2 * PHASE_LIMIT_MS, async () => {
          const forward = await underLoad(
            release,
            async () => [
              await sh(`kubectl set image deployment/${DEPLOYMENT_NAME} ${CONTAINER_NAME}=${image(TAGS.edge)}`),
              await sh(`kubectl rollout status deployment/${DEPLOYMENT_NAME}`, PHASE_LIMIT_MS),
            ],
            entry(),
          );
          report(rolloutLine(`edge: set image to ${TAGS.edge}`, forward, await replicaSets(), 'through traefik'));
          const back = await underLoad(
            release,
            async () => [
              await sh(`kubectl rollout undo deployment/${DEPLOYMENT_NAME}`),
              await sh(`kubectl rollout status deployment/${DEPLOYMENT_NAME}`, PHASE_LIMIT_MS),
            ],
            entry(),
          );
          report(rolloutLine(`edge: undo`, back, await replicaSets(), 'through traefik'));
          return { forward, back };
        });
        report(lagLine(seen));
        expect([...forward.ran, ...back.ran].map((x) => x.code)).toEqual([0, 0, 0, 0]);
        expect(kinds(failures(forward.outcomes))).toBe('none');
        expect(kinds(failures(back.outcomes))).toBe('none');
        expect(forward.outcomes.length).toBeGreaterThan(1_000);
        // Each rollout took at least one pod out; Traefik stopped routing to it before its preStop delay ended.
        expect(seen.removals.length).toBeGreaterThanOrEqual(2);
        expect(Math.max(...seen.removals.map((x) => x.lagMs))).toBeLessThan(s.preStopDelaySeconds * 1000);
        expect(await currentImage()).toBe(image(TAGS.contract));
      },
      2 * PHASE_LIMIT_MS + 60_000,
    );

    it(
      'an HPA scale-in with its load through the edge: 0 failed',
      async () => {
        const [c, seen] = await watchingEndpointLag(traefikIp, HPA_CYCLE_LIMIT_MS, () =>
          scaleOutThenIn(release, entry()),
        );
        report(
          `edge: HPA scale-out through the ClusterIP in ${(c.outMs / 1000).toFixed(1)} s (the HPA saw ${c.utilization}%, at most ${c.peak}%, target ${s.hpaCpuUtilizationPercent}%); ` +
            `scale-in through traefik: ${s.maxReplicas} → ${s.minReplicas} pods in ${(c.inMs / 1000).toFixed(1)} s, ` +
            `${c.light.length} requests through traefik, ${failures(c.light).length} failed (${kinds(c.light)}) ` +
            `(the scale-out's load through the ClusterIP: ${c.heavy.length} requests, ${failures(c.heavy).length} failed)`,
        );
        report(lagLine(seen));
        expectAnswered(c);
        expect(seen.removals.length).toBeGreaterThanOrEqual(s.maxReplicas - s.minReplicas);
        expect(Math.max(...seen.removals.map((x) => x.lagMs))).toBeLessThan(s.preStopDelaySeconds * 1000);
      },
      HPA_CYCLE_LIMIT_MS,
    );
  });
}

/** What Traefik says of itself when the edge does not answer: its pod, its log's end, the routers it built. */
async function traefikState(traefikIp: string): Promise<string> {
  const [pods, log, objects, routers] = await Promise.all([
    sh('kubectl -n traefik get pods -o wide'),
    sh('kubectl -n traefik logs deployment/traefik --tail=40'),
    sh('kubectl get ingress,gateway,httproute -o wide'),
    request(`http://${traefikIp}:${PORTS.traefik.port}/api/http/routers`, undefined, 2_000),
  ]);
  return [
    pods.stdout + pods.stderr,
    log.stdout + log.stderr,
    objects.stdout + objects.stderr,
    `Traefik's routers: ${routers.body ?? routers.error}`,
  ].join('\n');
}

interface Lag {
  /** Each pod address taken out: from the poll that first saw its endpoint not ready (or gone) to the one that saw Traefik drop it. */
  readonly removals: readonly { ip: string; lagMs: number }[];
  /** The median time one poll took: the resolution. */
  readonly pollMs: number;
}

/** Runs `work` while watching Traefik's endpoint lag; the watch ends with it, whether it returns or throws. */
async function watchingEndpointLag<T>(traefikIp: string, limitMs: number, work: () => Promise<T>): Promise<[T, Lag]> {
  const lag = watchEndpointLag(traefikIp, limitMs);
  let result: T;
  try {
    result = await work();
  } catch (err) {
    await lag.stop().catch(() => undefined);
    throw err;
  }
  return [result, await lag.stop()];
}

/**
 * Polls, back to back, the release's EndpointSlices and the servers Traefik's Ingress service
 * routes to (its API); for each pod address the slices take out, how long Traefik kept it.
 * The resolution is one poll (reported). Bounded in time too (`limitMs`): a case that throws before
 * its `stop()` must not leave a loop that keeps Jest from exiting (seen in CI: the run then hung
 * until the CI's own limit).
 */
function watchEndpointLag(traefikIp: string, limitMs: number): { stop(): Promise<Lag> } {
  const leftSlices = new Map<string, number>();
  const leftTraefik = new Map<string, number>();
  let inSlices = new Set<string>();
  let inTraefik = new Set<string>();
  let running = true;
  const periods: number[] = [];
  const deadline = Date.now() + limitMs;
  const loop = (async () => {
    while (running && Date.now() < deadline) {
      const started = Date.now();
      const [slices, services] = await Promise.all([
        getJson('endpointslices', '-l', `kubernetes.io/service-name=${DEPLOYMENT_NAME}`),
        request(`http://${traefikIp}:${PORTS.traefik.port}/api/http/services`, undefined, 2_000),
      ]);
      const now = Date.now();
      const ready = new Set<string>(
        (slices.items as any[]).flatMap((sl) =>
          (sl.endpoints ?? []).filter((ep: any) => ep.conditions?.ready).flatMap((ep: any) => ep.addresses),
        ),
      );
      const routed = new Set<string>(
        (JSON.parse(services.body ?? '[]') as any[])
          .filter((svc) => svc.provider === 'kubernetes' && svc.name.includes(DEPLOYMENT_NAME))
          // A terminating pod stays listed, fenced (no new requests), until its endpoint stops serving.
          .flatMap((svc) => (svc.loadBalancer?.servers ?? []).filter((x: any) => !x.fenced))
          .map((x: any) => new URL(x.url).hostname),
      );
      for (const ip of inSlices) if (!ready.has(ip) && !leftSlices.has(ip)) leftSlices.set(ip, now);
      for (const ip of inTraefik) if (!routed.has(ip) && !leftTraefik.has(ip)) leftTraefik.set(ip, now);
      inSlices = ready;
      inTraefik = routed;
      periods.push(now - started);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return {
        removals: [...leftSlices]
          .filter(([ip]) => leftTraefik.has(ip))
          .map(([ip, t]) => ({ ip, lagMs: Math.max(0, leftTraefik.get(ip)! - t) })),
        pollMs: periods.sort((x, y) => x - y)[Math.floor(periods.length / 2)] ?? 0,
      };
    },
  };
}

function lagLine({ removals, pollMs }: Lag): string {
  const lags = removals.map((x) => x.lagMs).sort((x, y) => x - y);
  const p99 = lags[Math.min(lags.length - 1, Math.ceil(lags.length * 0.99) - 1)];
  return (
    `edge: endpoint lag p99 ${p99 ?? '-'} ms (max ${lags.at(-1) ?? '-'} ms over ${lags.length} pods taken out; ` +
    `polls every ${pollMs} ms), preStop ${s.preStopDelaySeconds} s`
  );
}
