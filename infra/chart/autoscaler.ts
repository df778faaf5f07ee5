import { Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { DEPLOYMENT_NAME } from '../names';
import { meta, type Resolved } from './props';

/** The HPA on CPU, between the sizing's minimum and maximum replicas. */
export class BackendAutoscaler extends Construct {
  constructor(scope: Construct, id: string, r: Resolved, deployment: kplus.Deployment) {
    super(scope, id);
    new kplus.HorizontalPodAutoscaler(this, 'hpa', {
      metadata: meta(r, DEPLOYMENT_NAME),
      target: deployment,
      minReplicas: r.sizing.minReplicas,
      maxReplicas: r.sizing.maxReplicas,
      metrics: [kplus.Metric.resourceCpu(kplus.MetricTarget.averageUtilization(r.sizing.hpaCpuUtilizationPercent))],
      scaleDown: { stabilizationWindow: Duration.seconds(r.sizing.scaleDownStabilizationSeconds) },
    });
  }
}
