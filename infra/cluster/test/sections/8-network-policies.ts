import { DEFAULT_METRICS_PORT, DEFAULT_PORT } from '../../../../common/contract';
import {
  DEFAULT_API_CLIENT_LABELS,
  DEFAULT_DATABASE_PORT,
  DEFAULT_METRICS_SCRAPER_LABELS,
  DEFAULT_REDIS_PORT,
  DNS_PORT,
} from '../../../chart';
import { DEPLOYMENT_NAME } from '../../../names';
import { cluster, getJson, kubectl, pods, sh, until } from '../kube';
import { apply, clientPod, hostListeners, reach, readyIp, type Reach } from '../netpol';
import { image, report, SELECTOR, TAGS, type Release } from '../release';

/** A host port the backend's egress does not admit (NetworkPolicy proof). */
const OTHER_PORT = 8443;
/** What the policy admits: the stranger nowhere, the API client the API port only, the scraper the metrics port only. */
const ADMITTED = {
  stranger: ['blocked', 'blocked'],
  apiClient: ['open', 'blocked'],
  scraper: ['blocked', 'open'],
};
const labelList = (labels: Record<string, string>) =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

export function networkPolicies(_release: Release): void {
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
      expect(m).toEqual(ADMITTED);
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
      expect(to).toEqual({
        postgres: 'open',
        redis: 'open',
        dns: 'open',
        otherHostPort: 'blocked',
        otherPod: 'blocked',
      });
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
      expect(await matrix()).toEqual(ADMITTED);
    }, 180_000);
  });
}
