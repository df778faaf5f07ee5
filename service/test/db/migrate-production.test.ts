import { mkdtemp, mkdir, writeFile, cp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { MIGRATIONS_DIR, migrate, NO_TRANSACTION_MARKER } from '../../src/db/migrate';
import { createScratchDatabase, withClient } from '../../../test-support/databases';
import { startService, TOKEN } from '../../../test-support/service';

/**
 * Migrations at production scale: statements outside a transaction, a failure
 * half-way, a table lock held by someone else, the budget. Each test has a
 * scratch database and a copy of the migrations it adds to.
 */
async function scratch() {
  const db = await createScratchDatabase(process.env.BOLTLINK_TEST_ADMIN_URL!, 'boltlink_migrate');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'migrations-'));
  await cp(MIGRATIONS_DIR, dir, { recursive: true });
  await migrate(db.url, dir);
  const query = (q: string, params: unknown[] = []) => withClient(db.url, async (c) => (await c.query(q, params)).rows);
  const add = async (name: string, sql: string) => {
    await mkdir(path.join(dir, name), { recursive: true });
    await writeFile(path.join(dir, name, 'migration.sql'), sql);
  };
  return { ...db, dir, query, add };
}

const HOST_MIGRATION = `${NO_TRANSACTION_MARKER}
-- A column the code does not read yet (expand), filled in batches that commit as they go, then indexed
-- without blocking writes: each statement on its own, each safe to run again.
ALTER TABLE links ADD COLUMN IF NOT EXISTS host TEXT;
DO $$
DECLARE n bigint;
BEGIN
  LOOP
    UPDATE links SET host = lower(substring(url from '^https?://([^/:?#]+)'))
    WHERE id IN (SELECT id FROM links WHERE host IS NULL LIMIT 20000);
    GET DIAGNOSTICS n = ROW_COUNT;
    COMMIT;
    EXIT WHEN n = 0;
  END LOOP;
END $$;
CREATE INDEX CONCURRENTLY IF NOT EXISTS links_host_idx ON links (host);
`;

describe('migrations at production scale', () => {
  it('runs a no-transaction migration statement by statement: a batched backfill and a concurrent index, once', async () => {
    const db = await scratch();
    try {
      await db.query(
        "INSERT INTO links (slug, url) SELECT 'm' || g, 'https://Host' || (g % 7) || '.example.com/' || g FROM generate_series(1, 100000) g",
      );
      await db.add('29991231000001_links_host', HOST_MIGRATION);
      expect((await migrate(db.url, db.dir)).applied).toEqual(['29991231000001_links_host']);
      expect(await db.query('SELECT count(*)::int AS missing FROM links WHERE host IS NULL')).toEqual([{ missing: 0 }]);
      expect(await db.query("SELECT host FROM links WHERE slug = 'm8'")).toEqual([{ host: 'host1.example.com' }]);
      expect(
        await db.query("SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = 'links_host_idx'::regclass"),
      ).toEqual([{ valid: true }]);
      expect(
        await db.query(
          'SELECT applied_steps_count AS steps, finished_at IS NOT NULL AS done FROM "_prisma_migrations" WHERE migration_name = $1',
          ['29991231000001_links_host'],
        ),
      ).toEqual([{ steps: 3, done: true }]);
      expect(await migrate(db.url, db.dir)).toMatchObject({ applied: [] });
    } finally {
      await db.drop();
    }
  });

  it('reports the invalid index a failed concurrent build leaves, by name, and rebuilds it when run again', async () => {
    const db = await scratch();
    try {
      await db.query(
        "INSERT INTO links (slug, url) VALUES ('d1', 'https://example.com/same'), ('d2', 'https://example.com/same')",
      );
      await db.add(
        '29991231000002_unique_url',
        `${NO_TRANSACTION_MARKER}\nCREATE UNIQUE INDEX CONCURRENTLY links_url_key ON links (url);\n`,
      );
      await expect(migrate(db.url, db.dir)).rejects.toThrow(
        /migration 29991231000002_unique_url failed at statement 1 of 1: could not create unique index "links_url_key".*safe to run again.*invalid index\(es\) links_url_key/s,
      );
      expect(
        await db.query("SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = 'links_url_key'::regclass"),
      ).toEqual([{ valid: false }]);
      // The data fixed, the same migration again: the invalid index is dropped and built anew.
      await db.query("DELETE FROM links WHERE slug = 'd2'");
      expect((await migrate(db.url, db.dir)).applied).toEqual(['29991231000002_unique_url']);
      expect(
        await db.query("SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = 'links_url_key'::regclass"),
      ).toEqual([{ valid: true }]);
    } finally {
      await db.drop();
    }
  });

  it('waits for a table lock a little at a time, so reads and creates keep answering while it waits', async () => {
    const db = await scratch();
    const svc = await startService({ DATABASE_URL: db.url, DB_STATEMENT_TIMEOUT_MS: '1000' });
    const holder = new Client({ connectionString: db.url });
    await holder.connect();
    try {
      const create = (slug: string) =>
        fetch(`${svc.url}/api/links`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ url: `https://example.com/${slug}`, slug }),
        });
      expect((await create('held-0')).status).toBe(201);
      // A long transaction that has read links: the migration's ALTER TABLE must wait for it.
      await holder.query('BEGIN');
      await holder.query('SELECT count(*) FROM links');
      await db.add('29991231000003_note', 'ALTER TABLE links ADD COLUMN note TEXT;\n');
      const waited: string[] = [];
      const migrating = migrate(db.url, db.dir, { lockTimeoutMs: 200, log: (l) => waited.push(l) });
      const answers: { status: number; ms: number }[] = [];
      const until = Date.now() + 4_000;
      for (let i = 1; Date.now() < until; i++) {
        for (const res of [() => fetch(`${svc.url}/api/links/held-0`), () => create(`held-${i}`)]) {
          const t = Date.now();
          const r = await res();
          await r.arrayBuffer();
          answers.push({ status: r.status, ms: Date.now() - t });
        }
      }
      await holder.query('COMMIT');
      expect((await migrating).applied).toEqual(['29991231000003_note']);
      expect(new Set(answers.map((a) => a.status))).toEqual(new Set([200, 201]));
      // Each answer waited at most one lock_timeout behind the migration's lock request, not the whole hold.
      expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(1_000);
      expect(answers.length).toBeGreaterThan(10);
      expect(waited.length).toBeGreaterThan(3);
      expect(waited[0]).toMatch(
        /migration 29991231000003_note: a table's lock not free within 200 ms \(attempt 1\); retrying/,
      );
    } finally {
      await holder.end();
      await svc.stop();
      await db.drop();
    }
  }, 30_000);

  it('cancels a migration that overruns its budget, and applies nothing of it', async () => {
    const db = await scratch();
    try {
      await db.add('29991231000004_slow', 'CREATE TABLE slow_one (id int);\nSELECT pg_sleep(5);\n');
      await expect(migrate(db.url, db.dir, { budgetMs: 1_000 })).rejects.toThrow(
        /migration 29991231000004_slow exceeded its budget \(1 s, the sizing's migrationBudgetSeconds\) and was cancelled/,
      );
      expect(await db.query("SELECT to_regclass('slow_one') IS NULL AS gone")).toEqual([{ gone: true }]);
      expect(
        await db.query('SELECT count(*)::int AS n FROM "_prisma_migrations" WHERE migration_name LIKE \'%slow\''),
      ).toEqual([{ n: 0 }]);
    } finally {
      await db.drop();
    }
  });

  it('leaves at once when another migrator holds the lock and it was asked to skip (a pod of a release)', async () => {
    const db = await scratch();
    const other = new Client({ connectionString: db.url });
    await other.connect();
    try {
      await other.query('SELECT pg_advisory_lock(72707369)');
      await db.add('29991231000005_later', 'CREATE TABLE later_one (id int);\n');
      expect(await migrate(db.url, db.dir, { whenLocked: 'skip' })).toEqual({
        applied: [],
        alreadyApplied: [],
        skipped: 'locked',
      });
      await other.query('SELECT pg_advisory_unlock(72707369)');
      expect((await migrate(db.url, db.dir)).applied).toEqual(['29991231000005_later']);
    } finally {
      await other.end();
      await db.drop();
    }
  });
});
