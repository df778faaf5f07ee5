import { DEPLOYMENT_NAME } from '../../../names';
import { cluster, getJson, isReady, kubectl, sh, until } from '../kube';
import { report, restrictedNamespace, SELECTOR, type Release } from '../release';

/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects are plain JSON */
export function prodScheduling(_release: Release): void {
  describe('9. production scheduling, simulated on kubemark hollow nodes in 3 zones', () => {
    // Hollow nodes run the kubelet's code with a fake runtime: their pods are scheduled, Running and
    // Ready as far as the API says, but no container runs. Every traffic figure above is the real node's.
    const SIM = 'boltlink-prod-sim';
    const ZONES = ['zone-a', 'zone-b', 'zone-c'];
    const NODES_PER_ZONE = 3;
    const sim = (cmd: string, timeoutMs?: number) => sh(`kubectl -n ${SIM} ${cmd}`, timeoutMs);
    let hollow: string[];
    let prod: { maxReplicas: number; pdbMaxUnavailable: number; maxSkew: number[] };

    beforeAll(async () => {
      const r = await sh(`infra/cluster/hollow.sh ${ZONES.map((z) => `${z}:${NODES_PER_ZONE}`).join(' ')}`, 300_000);
      expect(r).toMatchObject({ code: 0 });
      hollow = r.stdout.trim().split('\n');
      await restrictedNamespace(SIM);
      // Hollow pods start no container, but the kubelet still resolves their env: the Secrets exist, with placeholders.
      for (const [secret, key] of [
        ['db-secrets', 'url'],
        ['redis-secrets', 'url'],
        ['boltlink-api-tokens', 'tokens'],
      ]) {
        await kubectl(
          '-n',
          SIM,
          'create',
          'secret',
          'generic',
          secret!,
          `--from-literal=${key}=placeholder-hollow-pods-run-no-container`,
        );
      }
      const applied = await sim('apply -f charts-out');
      expect({ code: applied.code, stderr: applied.stderr }).toEqual({ code: 0, stderr: '' });
      const [hpa, pdb, deployment] = [
        await getJson('-n', SIM, 'hpa', DEPLOYMENT_NAME),
        await getJson('-n', SIM, 'pdb', DEPLOYMENT_NAME),
        await getJson('-n', SIM, 'deployment', DEPLOYMENT_NAME),
      ];
      prod = {
        maxReplicas: hpa.spec.maxReplicas,
        pdbMaxUnavailable: pdb.spec.maxUnavailable,
        maxSkew: deployment.spec.template.spec.topologySpreadConstraints.map((c: any) => c.maxSkew),
      };
      report(
        `simulation: ${hollow.length} kubemark hollow nodes (${ZONES.join(', ')}; each declares ${cluster.HOLLOW_NODE_CPU} CPUs, ${cluster.HOLLOW_NODE_MEMORY}; ` +
          `fake runtime: their pods run no container, no traffic reaches them); kubectl apply -n ${SIM} -f charts-out (the prod release, restricted Pod Security)`,
      );
    }, 360_000);

    /** Ready pods of the simulated release per zone and node, and the table make cluster-test prints. */
    const placement = async () => {
      const nodes = (await getJson('nodes', '-l', 'boltlink.dev/hollow=true')).items as any[];
      const zoneOf = new Map(
        nodes.map((n) => [n.metadata.name as string, n.metadata.labels['topology.kubernetes.io/zone'] as string]),
      );
      const list = ((await getJson('-n', SIM, 'pods', '-l', SELECTOR)).items as any[]).filter(
        (p) => !p.metadata.deletionTimestamp,
      );
      const ready = list.filter(isReady);
      const byNode = new Map(nodes.map((n) => [n.metadata.name as string, 0]));
      for (const p of ready) byNode.set(p.spec.nodeName, (byNode.get(p.spec.nodeName) ?? 0) + 1);
      const byZone = new Map(ZONES.map((z) => [z, 0]));
      for (const [node, n] of byNode) byZone.set(zoneOf.get(node)!, byZone.get(zoneOf.get(node)!)! + n);
      const schedulable = nodes.filter((n) => !n.spec.unschedulable).map((n) => n.metadata.name as string);
      const table = ZONES.map(
        (z) =>
          `    ${z}: ${byZone.get(z)} pods — ${[...byNode]
            .filter(([node]) => zoneOf.get(node) === z)
            .map(([node, n]) => `${node} ${n}`)
            .join(', ')}`,
      ).join('\n');
      return { ready: ready.length, pending: list.length - ready.length, byNode, byZone, schedulable, table };
    };
    const skew = (counts: Iterable<number>) => Math.max(...counts) - Math.min(...counts);

    it('the prod release at its HPA maximum spreads as its topologySpreadConstraints declare', async () => {
      // The HPA itself scales to its maximum once its minimum is raised to it (no CPU samples reach it from hollow pods).
      await kubectl(
        '-n',
        SIM,
        'patch',
        'hpa',
        DEPLOYMENT_NAME,
        '--type',
        'merge',
        '-p',
        JSON.stringify({ spec: { minReplicas: prod.maxReplicas } }),
      );
      const at = await until(
        `${prod.maxReplicas} pods Ready`,
        async () => {
          const p = await placement();
          return p.ready === prod.maxReplicas ? p : undefined;
        },
        180_000,
      );
      report(
        `simulation: the HPA's maximum, ${prod.maxReplicas} pods, placed (topologySpreadConstraints maxSkew ${prod.maxSkew.join(', ')} by node and zone):\n${at.table}`,
      );
      expect(skew(at.byZone.values())).toBeLessThanOrEqual(prod.maxSkew[1]!);
      expect(skew(at.byNode.values())).toBeLessThanOrEqual(prod.maxSkew[0]!);
    }, 240_000);

    it('kubectl drain of nodes one by one respects the PDB: evictions refused while its budget is spent, the drain done once replacements have room, every pod Ready after', async () => {
      const drain = (node: string, timeoutS: number) =>
        sh(
          `kubectl drain ${node} --ignore-daemonsets --delete-emptydir-data --timeout=${timeoutS}s`,
          (timeoutS + 30) * 1000,
        );
      const refusals = (out: string) =>
        (out.match(/Cannot evict pod as it would violate the pod's disruption budget/g) ?? []).length;
      const lines: string[] = [];
      // One node per zone while the pool has room: each drain moves its pods and ends.
      const first = ZONES.map((z) => hollow.find((n) => n.startsWith(`hollow-${z}-`))!);
      for (const node of first) {
        const t = Date.now();
        const r = await drain(node, 120);
        expect(r).toMatchObject({ code: 0 });
        lines.push(
          `kubectl drain ${node}: done in ${((Date.now() - t) / 1000).toFixed(1)} s, ${refusals(r.stdout + r.stderr)} evictions refused`,
        );
      }
      // A drain ends once its evictions are done; the last replacement may be a moment from Ready.
      const full = await until(
        `all ${prod.maxReplicas} pods Ready after the first drains`,
        async () => {
          const now = await placement();
          return now.ready === prod.maxReplicas ? now : undefined;
        },
        60_000,
        async () => (await placement()).table,
      );
      // The pool is now full: the next drain's replacement cannot be scheduled, so the PDB
      // (maxUnavailable 1) holds every further eviction until the first drained node comes back.
      const node = full.schedulable.find((n) => (full.byNode.get(n) ?? 0) >= 2)!;
      let lowest = prod.maxReplicas;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          lowest = Math.min(lowest, (await placement()).ready);
          await new Promise((r) => setTimeout(r, 500));
        }
      })();
      const t = Date.now();
      const blocked = drain(node, 180);
      await until(
        'an eviction refused by the PDB while a replacement waits for room',
        async () => (await placement()).pending > 0,
        60_000,
      );
      await new Promise((r) => setTimeout(r, 12_000));
      await kubectl('uncordon', first[0]!);
      const r = await blocked;
      sampling = false;
      await sampler;
      // The drain ends when its last eviction is done; that pod's replacement may be a moment from Ready.
      const end = await until(
        `all ${prod.maxReplicas} pods Ready again after the drain`,
        async () => {
          const now = await placement();
          return now.ready === prod.maxReplicas ? now : undefined;
        },
        60_000,
        async () => (await placement()).table,
      );
      lines.push(
        `kubectl drain ${node} with the pool full: ${refusals(r.stdout + r.stderr)} evictions refused by the PDB until ${first[0]} was uncordoned; ` +
          `done in ${((Date.now() - t) / 1000).toFixed(1)} s; Ready pods never below ${lowest} (PDB: at most ${prod.pdbMaxUnavailable} unavailable of ${prod.maxReplicas})`,
      );
      report(`simulation: ${lines.join('\n    ')}\n  placement after the drains:\n${end.table}`);
      expect(r).toMatchObject({ code: 0 });
      expect(refusals(r.stdout + r.stderr)).toBeGreaterThan(0);
      expect(lowest).toBeGreaterThanOrEqual(prod.maxReplicas - prod.pdbMaxUnavailable);
    }, 600_000);
  });
}
