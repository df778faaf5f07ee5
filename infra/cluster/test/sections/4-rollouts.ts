import { failures, kinds, request } from '../../../../test-support/faults';
import { sqlAt, TOKEN, uniqueSlug } from '../../../../test-support/service';
import { CHANGE_CAUSE } from '../../../chart';
import { CONTAINER_NAME, DEPLOYMENT_NAME } from '../../../names';
import { getJson, isReady, kubectl, pods, sh } from '../kube';
import {
  currentImage,
  image,
  PHASE_LIMIT_MS,
  replicaSets,
  report,
  rolloutLine,
  SELECTOR,
  BROKEN_MIGRATION,
  TAGS,
  underLoad,
  type Release,
} from '../release';

/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects are plain JSON */
export function rollouts(release: Release): void {
  describe('4-6. rollouts the guide’s way, under load', () => {
    beforeAll(async () => {
      release.slug = uniqueSlug('ct');
      const created = await request(`${release.serviceUrl}/api/links`, undefined, 5_000, {
        method: 'POST',
        body: JSON.stringify({ url: 'https://example.com/cluster', slug: release.slug }),
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      });
      expect(created.status).toBe(201);
    });

    it(
      `4. the guide's kubectl set image …=${image(TAGS.second)} --record + kubectl rollout status: 0 failed requests`,
      async () => {
        const r = await underLoad(release, async () => [
          await sh(`kubectl set image deployment/${DEPLOYMENT_NAME} ${CONTAINER_NAME}=${image(TAGS.second)} --record`),
          await sh(`kubectl rollout status deployment/${DEPLOYMENT_NAME}`, PHASE_LIMIT_MS),
        ]);
        const [setImage] = r.ran;
        report(rolloutLine(`rollout to ${TAGS.second}`, r, await replicaSets()));
        report(`kubectl set image … --record: exit ${setImage!.code}, warns "${setImage!.stderr.trim()}"`);
        expect(r.ran.map((x) => x.code)).toEqual([0, 0]);
        // kubectl 1.34 still records (the change-cause is the command line) and says the flag is going.
        expect(setImage!.stderr).toMatch(/--record has been deprecated/);
        const recorded = ((await getJson('rs', '-l', SELECTOR)).items as any[]).find(
          (rs) => rs.spec.template.spec.containers[0].image === image(TAGS.second),
        ).metadata.annotations[CHANGE_CAUSE];
        expect(recorded).toMatch(new RegExp(`^kubectl set image .*${image(TAGS.second)} --record=true$`));
        expect(r.ran[1]!.stdout).toContain('successfully rolled out');
        expect(kinds(failures(r.outcomes))).toBe('none');
        expect(r.outcomes.length).toBeGreaterThan(1_000);
        expect(await currentImage()).toBe(image(TAGS.second));
      },
      PHASE_LIMIT_MS + 60_000,
    );

    it(
      '5. kubectl rollout undo: back to the previous image, 0 failed requests',
      async () => {
        const r = await underLoad(release, async () => [
          await sh(`kubectl rollout undo deployment/${DEPLOYMENT_NAME}`),
          await sh(`kubectl rollout status deployment/${DEPLOYMENT_NAME}`, PHASE_LIMIT_MS),
        ]);
        report(rolloutLine(`rollout undo to ${TAGS.first}`, r, await replicaSets()));
        expect(r.ran.map((x) => x.code)).toEqual([0, 0]);
        expect(kinds(failures(r.outcomes))).toBe('none');
        expect(await currentImage()).toBe(image(TAGS.first));
      },
      PHASE_LIMIT_MS + 60_000,
    );

    it(
      `make rollout TAG=${TAGS.second}: the same two commands through make, 0 failed requests`,
      async () => {
        const r = await underLoad(release, async () => [await sh(`make rollout TAG=${TAGS.second}`, PHASE_LIMIT_MS)]);
        report(rolloutLine(`make rollout TAG=${TAGS.second}`, r, await replicaSets()));
        expect(r.ran[0]).toMatchObject({ code: 0, stdout: expect.stringContaining('successfully rolled out') });
        expect(kinds(failures(r.outcomes))).toBe('none');
        expect(await currentImage()).toBe(image(TAGS.second));
      },
      PHASE_LIMIT_MS + 60_000,
    );

    it('kubectl rollout history names each revision’s image: kubectl apply, --record and make rollout', async () => {
      const history = await kubectl('rollout', 'history', `deployment/${DEPLOYMENT_NAME}`);
      report(`kubectl rollout history deployment/${DEPLOYMENT_NAME}:\n${history.trim().replace(/^/gm, '    ')}`);
      const sets = (await getJson('rs', '-l', SELECTOR)).items as any[];
      const causes = sets.map((rs) => [
        rs.spec.template.spec.containers[0].image,
        rs.metadata.annotations[CHANGE_CAUSE] as string | undefined,
      ]);
      // Each revision's cause names the image that revision runs.
      for (const [img, cause] of causes) expect(cause).toContain(img);
      expect(causes.map(([, cause]) => cause).sort()).toEqual(
        [
          `image ${image(TAGS.first)} (kubectl apply)`,
          `image ${image(TAGS.second)} (make rollout TAG=${TAGS.second})`,
        ].sort(),
      );
      expect(history).toContain(`make rollout TAG=${TAGS.second}`);
    });

    it(
      '6. a release whose migration fails stalls safely: its pod never Ready, the old one serves; undo recovers',
      async () => {
        let brokenPod: any;
        const r = await underLoad(release, async () => {
          const steps = [
            await sh(`kubectl set image deployment/${DEPLOYMENT_NAME} ${CONTAINER_NAME}=${image(TAGS.broken)}`),
            await sh(`kubectl rollout status deployment/${DEPLOYMENT_NAME} --timeout=60s`, 120_000),
          ];
          brokenPod = (await pods(SELECTOR)).find((p) => p.spec.containers[0].image === image(TAGS.broken));
          steps.push(await sh(`kubectl logs ${brokenPod.metadata.name} --tail=5`));
          steps.push(await sh(`kubectl rollout undo deployment/${DEPLOYMENT_NAME}`));
          steps.push(await sh(`kubectl rollout status deployment/${DEPLOYMENT_NAME}`, PHASE_LIMIT_MS));
          return steps;
        });
        const [, stalled, logs, undo, recovered] = r.ran;
        const restarts = brokenPod.status.containerStatuses?.[0]?.restartCount ?? 0;
        // The schema the old pods serve: every migration they know applied, nothing of the broken one.
        const recorded = await sqlAt<{ name: string; finished: boolean }>(
          release.dbUrl,
          `SELECT migration_name AS name, finished_at IS NOT NULL AND rolled_back_at IS NULL AS finished FROM _prisma_migrations ORDER BY migration_name`,
        );
        const applied = recorded.filter((m) => m.finished).map((m) => m.name);
        report(
          `${rolloutLine(`broken release (failing migration) then undo`, r, await replicaSets())}; ` +
            `rollout status: "${stalled!.stderr.trim()}"; broken pod restarts ${restarts}, Ready never; ` +
            `schema afterwards: ${applied.length} migrations applied, ${BROKEN_MIGRATION} ${applied.includes(BROKEN_MIGRATION) ? 'APPLIED' : 'not applied'}`,
        );
        expect(stalled!.code).not.toBe(0);
        expect(stalled!.stderr).toContain('timed out');
        expect(isReady(brokenPod)).toBe(false);
        expect(logs!.stdout + logs!.stderr).toContain(`migration ${BROKEN_MIGRATION} failed and was rolled back`);
        expect(applied).not.toContain(BROKEN_MIGRATION);
        expect(applied.length).toBeGreaterThan(0);
        expect([undo!.code, recovered!.code]).toEqual([0, 0]);
        expect(kinds(failures(r.outcomes))).toBe('none');
        expect(await currentImage()).toBe(image(TAGS.second));
      },
      PHASE_LIMIT_MS + 180_000,
    );
  });
}
