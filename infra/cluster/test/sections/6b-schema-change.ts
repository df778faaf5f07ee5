import { failures, kinds, request, type Outcome } from '../../../../test-support/faults';
import { sqlAt, TOKEN } from '../../../../test-support/service';
import { CONTAINER_NAME, DEPLOYMENT_NAME } from '../../../names';
import { pods, sh } from '../kube';
import {
  currentImage,
  image,
  replicaSets,
  report,
  rolloutLine,
  s,
  SCHEMA_CHANGE,
  SELECTOR,
  settledAtMinimum,
  TAGS,
  underLoad,
  type Release,
} from '../release';

/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects are plain JSON */
const LINKS = 1_000_000;
/** One create a second from the host: inside the per-client create limit (120 a minute). */
const CREATE_GAP_MS = 1_000;

/** Creates through the Service, one at a time, until `stop()` says so: each with when it was sent. */
function createsUntil(release: Release, stop: () => boolean): Promise<(Outcome & { sentAt: number })[]> {
  return (async () => {
    const sent: (Outcome & { sentAt: number })[] = [];
    for (let i = 0; !stop(); i++) {
      const sentAt = Date.now();
      const r = await request(`${release.serviceUrl}/api/links`, undefined, 5_000, {
        method: 'POST',
        body: JSON.stringify({ url: `https://example.com/schema-change/${sentAt}-${i}` }),
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      });
      sent.push({ conn: 0, t: 0, ms: Date.now() - sentAt, sentAt, ...r });
      await new Promise((res) => setTimeout(res, CREATE_GAP_MS));
    }
    return sent;
  })();
}

/** The migrator's lines in the log of the pod that applied `migration`: each statement, when it ended and how long it took. */
async function migrationSteps(tag: string, migration: string) {
  const pod = (await pods(SELECTOR)).find((p: any) => p.spec.containers[0].image === image(tag));
  const log = await sh(`kubectl logs ${pod.metadata.name}`);
  const steps = log.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg: string; time: number })
    .flatMap((l) => {
      const m = new RegExp(`^migration ${migration}: statement (\\d+) of (\\d+) done in (\\d+) ms$`).exec(l.msg);
      return m ? [{ statement: Number(m[1]), of: Number(m[2]), ms: Number(m[3]), endedAt: l.time }] : [];
    });
  return { pod: pod.metadata.name as string, steps };
}

/**
 * Redirect load paced at most one request per connection every 10 ms (8 connections: ≤ 800 a
 * second, well under what one pod answers here at the HPA's target). A migration runs for a
 * minute or more; at full speed the HPA scales out meanwhile and, on this one 2-CPU node, the
 * second pod takes the room the surge pod needs, so the rollout would wait for a scale-in that
 * the load never allows. A production pool has room for both.
 */
const PACE = { gapMs: 10 };

/** The guide's rollout, typed as it is, from one settled pod, under steady redirect load and creates. */
async function rolloutUnderLoad(release: Release, tag: string) {
  await settledAtMinimum();
  let creating = true;
  const creates = createsUntil(release, () => !creating);
  const r = await underLoad(
    release,
    async () => {
      const ran = [
        await sh(`kubectl set image deployment/${DEPLOYMENT_NAME} ${CONTAINER_NAME}=${image(tag)}`),
        await sh(`kubectl rollout status deployment/${DEPLOYMENT_NAME}`, (s.progressDeadlineSeconds + 60) * 1000),
      ];
      creating = false;
      return ran;
    },
    PACE,
  );
  return { ...r, creates: await creates };
}

export function schemaChange(release: Release): void {
  describe('6b. a schema change on a million links, expand then contract, under load (the guide’s set image)', () => {
    beforeAll(async () => {
      await sqlAt(
        release.dbUrl,
        `INSERT INTO links (slug, url) SELECT 'sc-' || g, 'https://Host' || (g % 97) || '.example.com/' || g FROM generate_series(1, ${LINKS}) AS g`,
      );
    }, 300_000);

    it(
      `expand (${SCHEMA_CHANGE.expand.name}): a column backfilled and indexed concurrently, longer than the start-up budget; 0 failed`,
      async () => {
        const r = await rolloutUnderLoad(release, TAGS.expand);
        const { pod, steps } = await migrationSteps(TAGS.expand, SCHEMA_CHANGE.expand.name);
        const [, backfill, index] = steps;
        const [rows] = await sqlAt<{ filled: number; total: number; valid: boolean }>(
          release.dbUrl,
          `SELECT count(host)::int AS filled, count(*)::int AS total,
                  (SELECT indisvalid FROM pg_index WHERE indexrelid = 'links_host_idx'::regclass) AS valid FROM links`,
        );
        // Creates sent while a statement ran (a create a second: the index, under a second here, may see none).
        const during = (step: { ms: number; endedAt: number }) =>
          r.creates.filter((c) => c.sentAt >= step.endedAt - step.ms && c.sentAt <= step.endedAt).length;
        const totalMs = steps.reduce((n, x) => n + x.ms, 0);
        const failed = [...failures(r.outcomes), ...failures(r.creates.filter((c) => c.status !== 201))];
        report(
          `migration v2 (${pod}): ${rows!.filled} rows backfilled in ${(backfill!.ms / 1000).toFixed(1)} s, index built concurrently in ${(index!.ms / 1000).toFixed(1)} s ` +
            `(the whole migration ${(totalMs / 1000).toFixed(1)} s; start-up budget ${s.startupTimeoutMs / 1000} s, migration budget ${s.migrationBudgetSeconds} s); ` +
            `rollout under load: ${r.outcomes.length + r.creates.length} requests (${r.creates.length} creates: ${during(backfill!)} during the backfill, ${during(index!)} during the index build), ${failed.length} failed`,
        );
        report(rolloutLine('  the expand rollout (redirects paced ≤ 800/s)', r, await replicaSets()));
        expect(r.ran.map((x) => x.code)).toEqual([0, 0]);
        expect(steps.map((x) => x.statement)).toEqual([1, 2, 3]);
        expect(totalMs).toBeGreaterThan(s.startupTimeoutMs * 2);
        expect(rows!.filled).toBeGreaterThanOrEqual(LINKS);
        expect(rows!.valid).toBe(true);
        expect(kinds(failures(r.outcomes))).toBe('none');
        expect(kinds(r.creates.filter((c) => c.status !== 201))).toBe('none');
        expect(during(backfill!)).toBeGreaterThan(0);
        expect(await currentImage()).toBe(image(TAGS.expand));
      },
      (s.progressDeadlineSeconds + 540) * 1000,
    );

    it(
      `contract (${SCHEMA_CHANGE.contract.name}): what no query uses is dropped concurrently; 0 failed`,
      async () => {
        const r = await rolloutUnderLoad(release, TAGS.contract);
        const [gone] = await sqlAt<{ gone: boolean }>(
          release.dbUrl,
          "SELECT to_regclass('links_expires_at_idx') IS NULL AS gone",
        );
        const failed = [...failures(r.outcomes), ...failures(r.creates.filter((c) => c.status !== 201))];
        report(
          `contract v3: ${r.outcomes.length + r.creates.length} requests (${r.creates.length} creates), ${failed.length} failed; links_expires_at_idx ${gone!.gone ? 'dropped' : 'still there'}`,
        );
        expect(r.ran.map((x) => x.code)).toEqual([0, 0]);
        expect(gone!.gone).toBe(true);
        expect(kinds(failures(r.outcomes))).toBe('none');
        expect(kinds(r.creates.filter((c) => c.status !== 201))).toBe('none');
        expect(await currentImage()).toBe(image(TAGS.contract));
      },
      (s.progressDeadlineSeconds + 540) * 1000,
    );
  });
}
