import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { DEFAULT_PORT } from '../../common/contract';
import { DEPLOYMENT_NAME } from '../names';
import { HTTP_PORT_NAME, meta, type Resolved } from './props';

/** The Service's port: what the ingress and the pods' clients call. */
export const SERVICE_PORT = 80;

/** The API behind a ClusterIP (the metrics port is not exposed: Prometheus scrapes each pod). */
export class BackendService extends Construct {
  constructor(scope: Construct, id: string, r: Resolved) {
    super(scope, id);
    const service = new kplus.Service(this, 'service', {
      metadata: meta(r, DEPLOYMENT_NAME),
      type: kplus.ServiceType.CLUSTER_IP,
      ports: [{ name: HTTP_PORT_NAME, port: SERVICE_PORT, targetPort: DEFAULT_PORT, protocol: kplus.Protocol.TCP }],
    });
    for (const [key, value] of Object.entries(r.selector)) service.selectLabel(key, value);
  }
}
