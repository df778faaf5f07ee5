import { JsonPatch } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { RESTRICTED_NAMESPACE_LABELS } from '../pod-security';
import type { Resolved } from './props';

/** A namespace of the release's own, with the Pod Security labels (restricted: enforce, warn and audit). */
export class ReleaseNamespace extends Construct {
  constructor(scope: Construct, id: string, r: Resolved, name: string) {
    super(scope, id);
    const ns = new kplus.k8s.KubeNamespace(this, 'namespace', {
      metadata: { name, labels: { ...r.labels, ...RESTRICTED_NAMESPACE_LABELS } },
    });
    // A Namespace is cluster-scoped: the chart-wide namespace must not be written into it.
    ns.addJsonPatch(JsonPatch.remove('/metadata/namespace'));
  }
}
