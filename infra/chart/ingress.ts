import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { DEPLOYMENT_NAME } from '../names';
import { meta, type Resolved } from './props';
import { SERVICE_PORT } from './service';

/** The annotation cert-manager's ingress-shim reads: it keeps the TLS Secret filled for the Ingress's hosts. */
export const CERT_MANAGER_CLUSTER_ISSUER = 'cert-manager.io/cluster-issuer';

/**
 * The public edge for the controllers a cluster already runs: every path of
 * PUBLIC_BASE_URL's host to the Service, with TLS from the release's Secret
 * when that URL is https. The metrics port is not on the Service, so the
 * edge cannot reach it.
 */
export class BackendIngress extends Construct {
  constructor(scope: Construct, id: string, r: Resolved) {
    super(scope, id);
    const issuer = r.edge.certManagerClusterIssuer;
    new kplus.k8s.KubeIngress(this, 'ingress', {
      metadata: {
        ...meta(r, DEPLOYMENT_NAME),
        ...(issuer ? { annotations: { [CERT_MANAGER_CLUSTER_ISSUER]: issuer } } : {}),
      },
      spec: {
        ingressClassName: r.edge.ingressClassName,
        ...(r.edge.tls ? { tls: [{ hosts: [r.edge.host], secretName: r.edge.tlsSecret }] } : {}),
        rules: [
          {
            host: r.edge.host,
            http: {
              paths: [
                {
                  path: '/',
                  pathType: 'Prefix',
                  backend: { service: { name: DEPLOYMENT_NAME, port: { number: SERVICE_PORT } } },
                },
              ],
            },
          },
        ],
      },
    });
  }
}
