import { failures, keepAliveLoad, kinds } from '../../../../test-support/faults';
import { sqlAt } from '../../../../test-support/service';
import { DEPLOYMENT_NAME } from '../../../names';
import { getJson, isReady, pods, releaseState, sh, until } from '../kube';
import { LOAD, report, s, SELECTOR, settledAtMinimum, type Entry, type Release } from '../release';

/**
 * The HPA's load: keep-alive connections through the ClusterIP, each request a redirect of a link
 * the worker cache does not hold (HPA_LINKS of them in turn, each back after its cache TTL), so the
 * pod spends more CPU per request than the host's load generator does.
 */
const HPA_HEAVY_CONNECTIONS = 12;
const HPA_LINKS = 100_000;
const HPA_LOAD_PATH = (i: number, conn: number) => `/hpa-${((i * HPA_HEAVY_CONNECTIONS + conn) % HPA_LINKS) + 1}`;

export function autoscaling(release: Release): void {
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
        const c = await scaleOutThenIn(release);
        const all = [...c.heavy, ...c.light];
        report(
          `HPA: ${HPA_HEAVY_CONNECTIONS} connections through the ClusterIP → ${s.maxReplicas} pods Ready ${(c.outMs / 1000).toFixed(1)} s after the load started ` +
            `(the HPA saw ${c.utilization}% of the CPU request, target ${s.hpaCpuUtilizationPercent}%; newest pod ${c.newest}); ` +
            `light load → ${s.minReplicas} pod ${(c.inMs / 1000).toFixed(1)} s later (scale-down window ${s.scaleDownStabilizationSeconds} s); ` +
            `${all.length} requests, ${failures(all).length} failed (${kinds(all)})`,
        );
        expect(c.utilization).toBeGreaterThan(s.hpaCpuUtilizationPercent);
        expect(c.inMs).toBeGreaterThanOrEqual(s.scaleDownStabilizationSeconds * 1000);
        expect(kinds(failures(all))).toBe('none');
        expect(c.light.length).toBeGreaterThan(100);
      },
      12 * 60_000,
    );
  });
}

/**
 * One HPA cycle from the minimum: heavy load through the ClusterIP until the HPA has scaled out to
 * its maximum, then light load (through the ClusterIP, or `light`'s entry) until it has scaled
 * back in and the other pods are gone. Each load's outcomes, the times, what the HPA saw.
 */
export async function scaleOutThenIn(release: Release, light: Entry = {}) {
  await settledAtMinimum();
  await sqlAt(
    release.dbUrl,
    `INSERT INTO links (slug, url) SELECT 'hpa-' || g, 'https://example.com/hpa/' || g FROM generate_series(1, ${HPA_LINKS}) AS g
     ON CONFLICT (slug) DO NOTHING`,
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
  const load = (connections: number, gapMs: number, stopWhen: () => boolean, entry: Entry = {}) =>
    keepAliveLoad({
      ...LOAD,
      connections,
      gapMs,
      base: entry.base ?? release.serviceUrl,
      agent: entry.agent,
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
  const lightLoad = load(2, 100, () => !running, light);
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
  return {
    outMs,
    inMs,
    utilization: atScaleOut?.utilization,
    newest: out[0].metadata.name as string,
    heavy: heavyOutcomes,
    light: (await lightLoad).outcomes,
  };
}
