import { DEFAULT_PORT } from '../../../../common/contract';
import { keepAliveLoad, kinds, request } from '../../../../test-support/faults';
import { sqlAt, TOKEN, uniqueSlug } from '../../../../test-support/service';
import { DEPLOYMENT_NAME } from '../../../names';
import { everyWorker, getJson, hostPathTo, isReady, kubectl, pods, releaseState, sh, until, watchPod } from '../kube';
import { LOAD, PHASE_LIMIT_MS, report, s, SELECTOR, settledAtMinimum, type Release } from '../release';

/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects are plain JSON */
export function nodeLevel(release: Release): void {
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
        const created = await request(`${release.serviceUrl}/api/links`, undefined, 5_000, {
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
        const requestedAt =
          Date.parse(last.metadata.deletionTimestamp) - last.metadata.deletionGracePeriodSeconds * 1000;
        const tookMs = Date.parse(terminated.finishedAt) - requestedAt;
        const clicks = async () =>
          Number(
            (
              await sqlAt<{ clicks: string }>(release.dbUrl, 'SELECT clicks FROM links WHERE slug = $1', [clickSlug])
            )[0]!.clicks,
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
        await everyWorker(pod.status.podIP, `/__fault/block?ms=${120_000}`, s.pm2Instances);
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
        await everyWorker(pod.status.podIP, `/__fault/unready?ms=${unreadyMs}`, s.pm2Instances);
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
}
