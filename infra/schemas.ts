import * as apps from 'kubernetes-models/apps/v1';
import * as autoscaling from 'kubernetes-models/autoscaling/v2';
import * as networking from 'kubernetes-models/networking.k8s.io/v1';
import * as policy from 'kubernetes-models/policy/v1';
import * as core from 'kubernetes-models/v1';
import Ajv from 'ajv';
import httpRouteV1 from './imports/httproute-v1.schema.json';
import type { K8sObject } from './rules';

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are plain JSON */
/** The Kubernetes API's own schemas for every kind the chart emits (kubernetes-models: offline, no API server). */
const MODELS: Record<string, new (o: any) => { validate(): void }> = {
  'apps/v1/Deployment': apps.Deployment,
  'v1/Service': core.Service,
  'v1/ConfigMap': core.ConfigMap,
  'v1/ServiceAccount': core.ServiceAccount,
  'autoscaling/v2/HorizontalPodAutoscaler': autoscaling.HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': policy.PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': networking.NetworkPolicy,
  'v1/Namespace': core.Namespace,
  'networking.k8s.io/v1/Ingress': networking.Ingress,
};

/**
 * The HTTPRoute against the Gateway API CRD's own v1 schema (infra/imports/import.sh takes it from
 * the CRD the chart's HttpRoute class is imported from): @kubernetes-models/gateway-api 2.x is ES
 * modules only, which this CommonJS project's jest cannot load, and its CommonJS 0.5 line predates
 * this CRD by years. Structure, types, enums, bounds
 * and patterns are checked; the CRD's CEL rules (x-kubernetes-validations) are the API server's,
 * which applies them in make cluster-test.
 */
class HttpRouteModel {
  private static readonly check = new Ajv({ strict: false, allErrors: true, validateFormats: false }).compile(
    httpRouteV1.schema,
  );
  constructor(private readonly o: unknown) {}
  validate(): void {
    if (HttpRouteModel.check(this.o)) return;
    throw new Error(
      (HttpRouteModel.check.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'invalid'}`).join('; '),
    );
  }
}
MODELS['gateway.networking.k8s.io/v1/HTTPRoute'] = HttpRouteModel;

/** Each object checked against its kind's schema: the problems, `Kind/name: what` (an unknown kind is one). */
export function schemaProblems(objects: readonly K8sObject[]): string[] {
  return objects.flatMap((o) => {
    const Model = MODELS[`${o.apiVersion}/${o.kind}`];
    if (!Model) return [`${o.apiVersion} ${o.kind}/${o.metadata?.name}: no schema known for this kind`];
    try {
      new Model(o).validate();
      return [];
    } catch (err) {
      return [`${o.kind}/${o.metadata.name}: ${(err as Error).message}`];
    }
  });
}
