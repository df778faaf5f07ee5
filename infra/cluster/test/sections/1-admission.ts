import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { GATEWAY_DIR } from '../../../manifests-dir';
import { DASHBOARD_NAME, DEPLOYMENT_NAME } from '../../../names';
import { RESTRICTED_NAMESPACE_LABELS } from '../../../pod-security';
import { getJson, ROOT, sh } from '../kube';
import { ENV, GATEWAY_API_VERSION, gatewayApiCrds, OUT, report, TAGS, type Release } from '../release';

/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects are plain JSON */
export function admission(release: Release): void {
  describe('1. admission: restricted Pod Security, strict server-side field validation', () => {
    it('a release with a namespace of its own: its Namespace, labels and default-deny are accepted, without warnings', async () => {
      const out = release.tmp();
      const r = await sh(
        // A real release's settings: without them, synth notes its placeholders on stderr.
        `BOLTLINK_ENV=${ENV} BOLTLINK_NAMESPACE=boltlink-own BOLTLINK_PUBLIC_BASE_URL=https://own.example.org BOLTLINK_ALLOWED_ORIGINS=https://app.own.example.org TAG=${TAGS.first} npx --no-install cdk8s synth --no-check-upgrade --output ${out} >/dev/null && kubectl apply -f ${out}`,
      );
      try {
        expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
        expect(r.stdout).toContain('namespace/boltlink-own created');
        expect(r.stdout).toContain('networkpolicy.networking.k8s.io/default-deny created');
        const ns = await getJson('namespace', 'boltlink-own');
        expect(ns.metadata.labels).toMatchObject(RESTRICTED_NAMESPACE_LABELS);
      } finally {
        await sh('kubectl delete namespace boltlink-own --wait=true', 180_000);
      }
    }, 240_000);

    it('refuses an unknown field (the validation the next test relies on is on)', async () => {
      const copy = release.tmp();
      cpSync(path.join(ROOT, OUT), copy, { recursive: true });
      const file = path.join(copy, `boltlink-${ENV}.k8s.yaml`);
      const docs = parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJSON());
      docs.find((d) => d.kind === 'Deployment').spec.template.spec.containers[0].bogusField = 1;
      writeFileSync(file, docs.map((d) => stringify(d)).join('---\n'));
      const r = await sh(`kubectl apply -f ${copy} --dry-run=server`);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/unknown field "spec.template.spec.containers\[0\].bogusField"/);
    });

    // Before the cluster-test release: both are Deployment boltlink-backend, with different selectors.
    it('kubectl apply -f charts-out (the committed prod release), server-side dry run: accepted, no warnings', async () => {
      const r = await sh('kubectl apply -f charts-out --dry-run=server');
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      report(`admission: prod charts-out, server dry run → ${r.stdout.trim().split('\n').length} objects, 0 warnings`);
    });
    it(`kubectl apply -f ${OUT}: every object accepted, no warnings`, async () => {
      const r = await sh(`kubectl apply -f ${OUT}`);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      const created = r.stdout.trim().split('\n');
      report(`admission: kubectl apply -f ${OUT} → ${created.length} objects, 0 warnings (${created.join('; ')})`);
      const synthesized = parseAllDocuments(readFileSync(path.join(ROOT, OUT, `boltlink-${ENV}.k8s.yaml`), 'utf8'));
      expect(created).toHaveLength(synthesized.length);
      expect(r.stdout).toContain(`configmap/${DASHBOARD_NAME} created`);
      expect(r.stdout).toContain(`ingress.networking.k8s.io/${DEPLOYMENT_NAME} created`);
    });

    it(`the Gateway API's CRDs (${GATEWAY_API_VERSION}, standard channel) installed: kubectl apply -f ${OUT}/${GATEWAY_DIR} creates the HTTPRoute; the CRD's CEL rules refuse a relative path`, async () => {
      const crds = await gatewayApiCrds();
      const installed = await sh(`kubectl apply --server-side -f ${crds}`);
      expect(installed).toMatchObject({ code: 0, stderr: '' });
      expect(
        await sh(
          'kubectl wait --for condition=established --timeout=60s crd/httproutes.gateway.networking.k8s.io',
          90_000,
        ),
      ).toMatchObject({ code: 0 });
      const r = await sh(`kubectl apply -f ${OUT}/${GATEWAY_DIR}`);
      expect({ code: r.code, stdout: r.stdout.trim(), stderr: r.stderr }).toEqual({
        code: 0,
        stdout: `httproute.gateway.networking.k8s.io/${DEPLOYMENT_NAME} created`,
        stderr: '',
      });
      // What the offline schema check cannot see: the CRD's CEL rules, evaluated by the API server.
      const route = (await getJson('httproute', DEPLOYMENT_NAME)) as any;
      route.spec.rules[0].matches[0].path.value = 'links';
      const file = path.join(release.tmp(), 'relative-path.json');
      writeFileSync(
        file,
        JSON.stringify({
          apiVersion: route.apiVersion,
          kind: route.kind,
          metadata: { name: route.metadata.name },
          spec: route.spec,
        }),
      );
      const refused = await sh(`kubectl apply -f ${file} --dry-run=server`);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain("value must be an absolute path and start with '/'");
      report(
        `admission: Gateway API ${GATEWAY_API_VERSION} CRDs (standard channel) installed; kubectl apply -f ${OUT}/${GATEWAY_DIR} → ${r.stdout.trim()}, 0 warnings; a relative path refused by the CRD's CEL rule`,
      );
    }, 180_000);
  });
}
