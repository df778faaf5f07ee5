import { Construct } from 'constructs';
import { DEPLOYMENT_NAME } from '../names';
import { HttpRoute, HttpRouteSpecRulesMatchesPathType } from '../imports/gateway.networking.k8s.io';
import { meta, type Resolved } from './props';
import { SERVICE_PORT } from './service';

/**
 * The public edge for a Gateway API implementation: PUBLIC_BASE_URL's host,
 * every path, to the Service, attached to the platform's Gateway (which holds
 * the listener and its certificate). Synthesized into charts-out/gateway/ by
 * a chart of its own: a cluster without the Gateway API's CRDs would refuse
 * the whole release over this one object.
 */
export class BackendHttpRoute extends Construct {
  constructor(scope: Construct, id: string, r: Resolved) {
    super(scope, id);
    const { name, namespace, sectionName } = r.edge.gateway;
    new HttpRoute(this, 'http-route', {
      metadata: meta(r, DEPLOYMENT_NAME),
      spec: {
        parentRefs: [
          {
            group: 'gateway.networking.k8s.io',
            kind: 'Gateway',
            name,
            ...(namespace ? { namespace } : {}),
            ...(sectionName ? { sectionName } : {}),
          },
        ],
        hostnames: [r.edge.host],
        rules: [
          {
            matches: [{ path: { type: HttpRouteSpecRulesMatchesPathType.PATH_PREFIX, value: '/' } }],
            backendRefs: [{ name: DEPLOYMENT_NAME, port: SERVICE_PORT }],
          },
        ],
      },
    });
  }
}
