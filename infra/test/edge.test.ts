import { Testing } from 'cdk8s';
import { BackendHttpRoute } from '../chart/http-route';
import { BackendIngress, CERT_MANAGER_CLUSTER_ISSUER } from '../chart/ingress';
import { DEFAULT_GATEWAY, DEFAULT_TLS_SECRET_NAME, EDGE_CONTROLLERS, resolve } from '../chart/props';
import { SERVICE_PORT } from '../chart/service';
import { DEPLOYMENT_NAME } from '../names';
import { checkManifests } from '../rules';
import { schemaProblems } from '../schemas';
import { ENVIRONMENTS } from '../../common/sizing';
import { DEFAULT_PORT } from '../../common/contract';
import { find, synth } from '../../test-support/synth';

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are plain JSON */
const BASE = { image: 'boltlink-backend:v9.9.9', publicBaseUrl: 'https://sho.rt' };

/** One edge construct alone in a Testing.chart(), from props resolved as the release resolves them. */
function alone(
  Construct: typeof BackendIngress | typeof BackendHttpRoute,
  props: Partial<Parameters<typeof resolve>[0]>,
) {
  const chart = Testing.chart();
  new Construct(chart, 'edge', resolve({ ...BASE, ...props }));
  const objects = Testing.synth(chart);
  expect(objects).toHaveLength(1);
  return objects[0];
}

describe.each(ENVIRONMENTS)('the %s release’s edge', (env) => {
  const objects = synth(env, { publicBaseUrl: 'https://l.example.org' });
  const ingress = find(objects, 'Ingress');
  const route = find(objects, 'HTTPRoute');
  const service = find(objects, 'Service');

  it('routes PUBLIC_BASE_URL’s host, every path, to the Service’s port over TLS (Ingress)', () => {
    expect(ingress.spec).toEqual({
      ingressClassName: EDGE_CONTROLLERS.traefik.ingressClassName,
      tls: [{ hosts: ['l.example.org'], secretName: DEFAULT_TLS_SECRET_NAME }],
      rules: [
        {
          host: 'l.example.org',
          http: {
            paths: [
              {
                path: '/',
                pathType: 'Prefix',
                backend: { service: { name: service.metadata.name, port: { number: service.spec.ports[0].port } } },
              },
            ],
          },
        },
      ],
    });
    expect(service.spec.ports[0].targetPort).toBe(DEFAULT_PORT);
  });

  it('attaches the same route to the default Gateway (HTTPRoute)', () => {
    expect(route.apiVersion).toBe('gateway.networking.k8s.io/v1');
    expect(route.spec).toEqual({
      parentRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: DEFAULT_GATEWAY.name }],
      hostnames: ['l.example.org'],
      rules: [
        {
          matches: [{ path: { type: 'PathPrefix', value: '/' } }],
          backendRefs: [{ name: service.metadata.name, port: service.spec.ports[0].port }],
        },
      ],
    });
  });

  it('admits the edge controller’s pods, and only them with the scrapers, to the pods', () => {
    const policy = objects.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === DEPLOYMENT_NAME)!;
    expect(policy.spec.ingress[0].from).toEqual([
      { namespaceSelector: {}, podSelector: { matchLabels: EDGE_CONTROLLERS.traefik.podLabels } },
    ]);
  });

  it('validates against the API schemas (the HTTPRoute against the Gateway API’s) and every rule', () => {
    expect(schemaProblems(objects)).toEqual([]);
    expect(checkManifests(objects, { environment: env })).toEqual([]);
  });
});

describe('the edge’s settings', () => {
  it('name another controller: its class on the Ingress, its pods in the NetworkPolicy', () => {
    const objects = synth('prod', { edgeController: 'ingress-nginx' });
    expect(find(objects, 'Ingress').spec.ingressClassName).toBe('nginx');
    const policy = objects.find((o) => o.kind === 'NetworkPolicy')!;
    expect(policy.spec.ingress[0].from[0].podSelector.matchLabels).toEqual({
      'app.kubernetes.io/name': 'ingress-nginx',
    });
    expect(checkManifests(objects, { environment: 'prod' })).toEqual([]);
  });

  it('override the class and the client labels one by one', () => {
    const objects = synth('prod', { ingressClassName: 'public', apiClientLabels: { team: 'edge' } });
    expect(find(objects, 'Ingress').spec.ingressClassName).toBe('public');
    expect(objects.find((o) => o.kind === 'NetworkPolicy')!.spec.ingress[0].from[0].podSelector.matchLabels).toEqual({
      team: 'edge',
    });
  });

  it('a cert-manager ClusterIssuer annotates the Ingress; none by default', () => {
    expect(alone(BackendIngress, {}).metadata.annotations).toBeUndefined();
    expect(alone(BackendIngress, { certManagerClusterIssuer: 'letsencrypt' }).metadata.annotations).toEqual({
      [CERT_MANAGER_CLUSTER_ISSUER]: 'letsencrypt',
    });
  });

  it('the TLS Secret by name; an http PUBLIC_BASE_URL has no TLS section, and a port is not part of the host', () => {
    expect(alone(BackendIngress, { tlsSecretName: 'sho-rt-cert' }).spec.tls).toEqual([
      { hosts: ['sho.rt'], secretName: 'sho-rt-cert' },
    ]);
    const plain = alone(BackendIngress, { publicBaseUrl: 'http://sho.rt:8080' });
    expect(plain.spec.tls).toBeUndefined();
    expect(plain.spec.rules[0].host).toBe('sho.rt');
  });

  it('a Gateway elsewhere: name, namespace and listener on the HTTPRoute', () => {
    const route = alone(BackendHttpRoute, { gateway: { name: 'public', namespace: 'infra', sectionName: 'https' } });
    expect(route.spec.parentRefs).toEqual([
      { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'public', namespace: 'infra', sectionName: 'https' },
    ]);
    expect(route.spec.rules[0].backendRefs).toEqual([{ name: DEPLOYMENT_NAME, port: SERVICE_PORT }]);
  });

  it('a release with a namespace of its own puts both routes in it', () => {
    const objects = synth('prod', { namespace: 'links' });
    expect(find(objects, 'Ingress').metadata.namespace).toBe('links');
    expect(find(objects, 'HTTPRoute').metadata.namespace).toBe('links');
  });

  it('the HTTPRoute’s schema is the Gateway API CRD’s: a bad path type and port are named', () => {
    const objects = JSON.parse(JSON.stringify(synth('prod'))) as any[];
    const route = objects.find((o) => o.kind === 'HTTPRoute');
    route.spec.rules[0].matches[0].path.type = 'Glob';
    route.spec.rules[0].backendRefs[0].port = 70000;
    expect(schemaProblems(objects)).toEqual([
      'HTTPRoute/boltlink-backend: /spec/rules/0/backendRefs/0/port must be <= 65535; /spec/rules/0/matches/0/path/type must be equal to one of the allowed values',
    ]);
  });

  it('refuses, naming every bad one together, a public URL the edge cannot route and an unknown controller', () => {
    for (const url of ['https://sho.rt/s', 'https://sho.rt/?a=1', 'ftp://sho.rt', 'sho.rt', 'https://sho.rt/#x']) {
      expect(() => resolve({ ...BASE, publicBaseUrl: url })).toThrow(
        `publicBaseUrl '${url}' must be an http(s) origin`,
      );
    }
    expect(() => resolve({ ...BASE, publicBaseUrl: 'https://sho.rt/s', edgeController: 'nginx' as any })).toThrow(
      "edgeController 'nginx' is not one of traefik, ingress-nginx; publicBaseUrl 'https://sho.rt/s' must be",
    );
  });
});
