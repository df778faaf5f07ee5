import { mkdtemp, mkdir, writeFile, cp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MIGRATIONS_DIR, migrate, readMigrations } from '../../src/db/migrate';
import { createScratchDatabase, withClient } from '../../../test-support/databases';

/** Each test gets a scratch database so it can break migrations freely. */
async function scratchDb() {
  const db = await createScratchDatabase(process.env.BOLTLINK_TEST_ADMIN_URL!, 'boltlink_migrate');
  return { ...db, query: (q: string) => withClient(db.url, async (c) => (await c.query(q)).rows) };
}

async function copyOfMigrations(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'migrations-'));
  await cp(MIGRATIONS_DIR, dir, { recursive: true });
  return dir;
}

describe('npm run db:migrate (service/src/db/migrate.ts)', () => {
  it('applies pending migrations once and records them as Prisma does', async () => {
    const db = await scratchDb();
    try {
      const first = await migrate(db.url);
      expect(first.applied).toEqual((await readMigrations()).map((m) => m.name));
      expect(await migrate(db.url)).toEqual({ applied: [], alreadyApplied: first.applied });
      const rows = (await db.query(
        'SELECT migration_name, checksum, applied_steps_count, finished_at >= started_at AS ordered FROM "_prisma_migrations"',
      )) as Record<string, unknown>[];
      const expected = (await readMigrations()).map((m) => ({
        migration_name: m.name,
        checksum: m.checksum,
        applied_steps_count: 1,
        ordered: true,
      }));
      expect(rows).toEqual(expected);
      expect(rows[0]!.checksum).toMatch(/^[0-9a-f]{64}$/);
      expect(await db.query("SELECT to_regclass('links') IS NOT NULL AS ok")).toEqual([{ ok: true }]);
    } finally {
      await db.drop();
    }
  });

  it('rolls back a failing migration, records nothing for it, and names it', async () => {
    const db = await scratchDb();
    const dir = await copyOfMigrations();
    try {
      await mkdir(path.join(dir, '29991231000000_broken'));
      await writeFile(
        path.join(dir, '29991231000000_broken/migration.sql'),
        'CREATE TABLE half_done (id int);\nSELECT no_such_function();\n',
      );
      await expect(migrate(db.url, dir)).rejects.toThrow(/migration 29991231000000_broken failed and was rolled back/);
      expect(await db.query("SELECT to_regclass('half_done') IS NULL AS gone")).toEqual([{ gone: true }]);
      expect(
        await db.query('SELECT count(*)::int AS n FROM "_prisma_migrations" WHERE migration_name LIKE \'%broken\''),
      ).toEqual([{ n: 0 }]);
    } finally {
      await db.drop();
    }
  });

  it('refuses to run when an applied migration was edited', async () => {
    const db = await scratchDb();
    const dir = await copyOfMigrations();
    try {
      await migrate(db.url, dir);
      const [first] = await readMigrations(dir);
      await writeFile(path.join(dir, first!.name, 'migration.sql'), `${first!.sql}\n-- edited\n`);
      await expect(migrate(db.url, dir)).rejects.toThrow(`migration ${first!.name} was modified after it was applied`);
    } finally {
      await db.drop();
    }
  });
});
