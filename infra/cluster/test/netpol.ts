import net from 'node:net';
import { stringify } from 'yaml';
import { APP_GID, APP_UID } from '../../../common/contract';
import { getJson, isReady, sh, until } from './kube';

/**
 * Pod-to-pod reachability for the NetworkPolicy proofs. The policy agent lets
 * the node's own traffic through (kubelet probes, the suite's load from the
 * host), so every check connects from inside a pod: `kubectl exec` runs a TCP
 * connect in it.
 */

/** What a connection attempt from a pod came to: accepted, or not within the deadline (dropped) or refused. */
export type Reach = 'open' | 'blocked';

/**
 * A client pod of the backend's own image (it has node), admitted by
 * restricted Pod Security, with `labels`; it serves TCP on `listenPort`
 * (answers and closes), so a blocked connection to it is the policy's doing.
 */
export function clientPod(name: string, image: string, labels: Record<string, string>, listenPort: number) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { 'app.kubernetes.io/part-of': 'netpol-test', ...labels } },
    spec: {
      automountServiceAccountToken: false,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: APP_UID,
        runAsGroup: APP_GID,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      containers: [
        {
          name: 'client',
          image,
          imagePullPolicy: 'IfNotPresent',
          command: [
            'node',
            '-e',
            `require('net').createServer((s) => s.on('error', () => {}).end('ok')).listen(${listenPort})`,
          ],
          resources: { requests: { cpu: '5m', memory: '32Mi' }, limits: { cpu: '100m', memory: '64Mi' } },
          securityContext: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
          },
        },
      ],
    },
  };
}

/** Applies `objects` with kubectl (stdin); throws with kubectl's stderr on failure. */
export async function apply(objects: readonly object[]): Promise<void> {
  const yaml = objects.map((o) => stringify(o)).join('---\n');
  const r = await sh(`kubectl apply -f - <<'EOF'\n${yaml}EOF`);
  if (r.code !== 0) throw new Error(`kubectl apply: ${r.stderr}`);
}

/** The pod's IP once it is Ready. */
export async function readyIp(name: string, timeoutMs = 120_000): Promise<string> {
  return until(
    `pod ${name} Ready`,
    async () => {
      const pod = await getJson('pod', name);
      return isReady(pod) ? (pod.status.podIP as string) : undefined;
    },
    timeoutMs,
  );
}

/** Tries a TCP connection from inside `pod` to host:port for at most `timeoutMs`. */
export async function reach(pod: string, host: string, port: number, timeoutMs = 2_000): Promise<Reach> {
  const script =
    `const s = require('net').connect(${port}, '${host}'); ` +
    `const t = setTimeout(() => { console.log('blocked'); process.exit(0); }, ${timeoutMs}); ` +
    `s.on('connect', () => { console.log('open'); process.exit(0); }); ` +
    `s.on('error', () => { clearTimeout(t); console.log('blocked'); process.exit(0); });`;
  const r = await sh(`kubectl exec ${pod} -- node -e "${script}"`, timeoutMs + 30_000);
  if (r.code !== 0) throw new Error(`kubectl exec ${pod}: ${r.stderr}`);
  return r.stdout.trim() as Reach;
}

/** TCP listeners on the host side of the pod network (the pods' "DNS" and a port nothing may reach). */
export async function hostListeners(host: string, ports: readonly number[]): Promise<{ close(): Promise<void> }> {
  const servers = await Promise.all(
    ports.map(
      (port) =>
        new Promise<net.Server>((resolve, reject) => {
          // A checking client leaves as soon as it is connected: its reset is expected.
          const server = net.createServer((s) => s.on('error', () => undefined).end('ok'));
          server.once('error', reject);
          server.listen(port, host, () => resolve(server));
        }),
    ),
  );
  return { close: () => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))).then(() => undefined) };
}
