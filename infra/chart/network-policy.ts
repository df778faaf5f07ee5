import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { DEFAULT_METRICS_PORT, DEFAULT_PORT } from '../../common/contract';
import { DEPLOYMENT_NAME } from '../names';
import { DEFAULT_DENY_NAME, DNS_PORT, meta, type Resolved } from './props';

/** Every pod of the namespace: only for a namespace the release owns, or it would cut off its neighbours. */
export class DefaultDeny extends Construct {
  constructor(scope: Construct, id: string, r: Resolved) {
    super(scope, id);
    new kplus.k8s.KubeNetworkPolicy(this, 'default-deny', {
      metadata: meta(r, DEFAULT_DENY_NAME),
      spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] },
    });
  }
}

/**
 * The backend's pods: ingress to the API port from its clients and to the
 * metrics port from the scrapers, each selected by pod labels in any
 * namespace; egress to DNS, PostgreSQL and Redis only.
 */
export class BackendNetworkPolicy extends Construct {
  constructor(scope: Construct, id: string, r: Resolved) {
    super(scope, id);
    const tcp = (port: number) => ({ protocol: 'TCP', port: kplus.k8s.IntOrString.fromNumber(port) });
    const podsLabelled = (labels: Readonly<Record<string, string>>) => ({
      namespaceSelector: {},
      podSelector: { matchLabels: { ...labels } },
    });
    new kplus.k8s.KubeNetworkPolicy(this, 'network-policy', {
      metadata: meta(r, DEPLOYMENT_NAME),
      spec: {
        podSelector: { matchLabels: r.selector },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [
          { from: [podsLabelled(r.clients.api)], ports: [tcp(DEFAULT_PORT)] },
          { from: [podsLabelled(r.clients.metrics)], ports: [tcp(DEFAULT_METRICS_PORT)] },
        ],
        egress: [
          { ports: [{ protocol: 'UDP', port: kplus.k8s.IntOrString.fromNumber(DNS_PORT) }, tcp(DNS_PORT)] },
          { ports: [tcp(r.egressPorts.database)] },
          { ports: [tcp(r.egressPorts.redis)] },
        ],
      },
    });
  }
}
