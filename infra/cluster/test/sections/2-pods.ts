import { DEFAULT_PORT, PM2_APP_NAME } from '../../../../common/contract';
import { CONTAINER_NAME, DEPLOYMENT_NAME } from '../../../names';
import { getJson, isReady, pods, sh } from '../kube';
import { report, s, SELECTOR, type Release } from '../release';

/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects are plain JSON */
export function sizedPods(release: Release): void {
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
      release.serviceUrl = `http://${svc.spec.clusterIP}:${svc.spec.ports[0].port}`;
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
}
