import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { DEPLOYMENT_NAME } from '../names';
import { meta, type Resolved } from './props';

/** Voluntary disruptions (drains, upgrades) take one pod at a time. */
export class BackendDisruptionBudget extends Construct {
  constructor(scope: Construct, id: string, r: Resolved) {
    super(scope, id);
    new kplus.k8s.KubePodDisruptionBudget(this, 'pdb', {
      metadata: meta(r, DEPLOYMENT_NAME),
      spec: {
        // One pod at a time: always compatible with minReplicas, even at 1.
        maxUnavailable: kplus.k8s.IntOrString.fromNumber(1),
        selector: { matchLabels: r.selector },
        unhealthyPodEvictionPolicy: 'AlwaysAllow',
      },
    });
  }
}
