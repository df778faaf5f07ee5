import { releaseFixture } from './release';
import { admission } from './sections/1-admission';
import { sizedPods } from './sections/2-pods';
import { nodeLevel } from './sections/3-node-level';
import { rollouts } from './sections/4-rollouts';
import { schemaChange } from './sections/6b-schema-change';
import { autoscaling } from './sections/7-hpa';
import { edge } from './sections/7b-edge';
import { networkPolicies } from './sections/8-network-policies';
import { prodScheduling } from './sections/9-scheduling';

/**
 * make cluster-test: the product's used-by commands, verbatim, against a real
 * single-node Kubernetes built from upstream sources (infra/cluster/up.sh
 * started it; run.sh tears it down). The sections run in this order, each on
 * the release the one before left (./release.ts holds what they share).
 */
const release = releaseFixture();

admission(release); // 1. restricted Pod Security, strict server-side field validation, kubectl apply
sizedPods(release); // 2. the pods run as the sizing says
nodeLevel(release); // 3. delete, liveness and readiness, from the host to a pod
rollouts(release); // 4-6. set image, undo, make rollout, a failing migration: under load
schemaChange(release); // 6b. expand, then contract, on a million links: under load
autoscaling(release); // 7. the HPA on real CPU
edge(release); // 7b. the public edge: Traefik, TLS, the Ingress and the HTTPRoute, under load
networkPolicies(release); // 8. NetworkPolicies enforced pod to pod
prodScheduling(release); // 9. the prod release's placement on simulated nodes in 3 zones
