import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Client } from 'pg';
import { StartupError } from '../errors';
import { databaseUnreachable } from './unreachable';

/**
 * Applies pending migrations from service/prisma/migrations and records them
 * in `_prisma_migrations` the way `prisma migrate deploy` does (same table,
 * same advisory lock, sha256 checksum of migration.sql), so the Prisma CLI on a
 * connected machine sees the same history. The Prisma CLI itself cannot run
 * here: it downloads a native schema engine at run time.
 */

/** service/prisma/migrations; `npm run build` copies it beside the compiled code, so dist/ runs on its own. */
export const MIGRATIONS_DIR = path.resolve(__dirname, '../../prisma/migrations');

/** The key Prisma Migrate takes with pg_advisory_lock, so we never run beside it. */
const PRISMA_ADVISORY_LOCK_KEY = 72707369;

const CREATE_TABLE = `
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

export interface Migration {
  readonly name: string;
  readonly sql: string;
  readonly checksum: string;
}

export interface MigrateResult {
  readonly applied: readonly string[];
  readonly alreadyApplied: readonly string[];
}

/** The migrations this release ships, oldest first. */
export async function migrationNames(dir = MIGRATIONS_DIR): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
    throw new StartupError(
      `no migrations at ${dir}: run npm run build (it copies service/prisma beside the compiled code)`,
    );
  });
  return entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

export async function readMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const names = await migrationNames(dir);
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(path.join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    }),
  );
}

/**
 * Applies each pending migration in its own transaction. A migration that
 * failed earlier (finished_at NULL, not rolled back) or whose file changed
 * after it was applied stops the run with an error that names it, as Prisma does.
 */
export async function migrate(databaseUrl: string, dir = MIGRATIONS_DIR): Promise<MigrateResult> {
  const migrations = await readMigrations(dir);
  const client = new Client({ connectionString: databaseUrl, application_name: 'boltlink-migrate' });
  await client.connect().catch((err: unknown) => {
    throw databaseUnreachable(databaseUrl, err);
  });
  try {
    await client.query('SELECT pg_advisory_lock($1)', [PRISMA_ADVISORY_LOCK_KEY]);
    await client.query(CREATE_TABLE);
    const { rows } = await client.query<{ migration_name: string; checksum: string; finished_at: Date | null }>(
      'SELECT migration_name, checksum, finished_at FROM "_prisma_migrations" WHERE rolled_back_at IS NULL',
    );
    const recorded = new Map(rows.map((r) => [r.migration_name, r]));
    const applied: string[] = [];
    const alreadyApplied: string[] = [];
    for (const m of migrations) {
      const row = recorded.get(m.name);
      if (row && row.finished_at === null) {
        throw new Error(
          `migration ${m.name} failed earlier and was not rolled back; resolve it before migrating again`,
        );
      }
      if (row) {
        if (row.checksum !== m.checksum) {
          throw new Error(
            `migration ${m.name} was modified after it was applied (checksum ${row.checksum} != ${m.checksum})`,
          );
        }
        alreadyApplied.push(m.name);
        continue;
      }
      await applyOne(client, m);
      applied.push(m.name);
    }
    return { applied, alreadyApplied };
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [PRISMA_ADVISORY_LOCK_KEY]).catch(() => undefined);
    await client.end();
  }
}

async function applyOne(client: Client, m: Migration): Promise<void> {
  const id = randomUUID();
  await client.query('BEGIN');
  try {
    await client.query(
      'INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at) VALUES ($1, $2, $3, now())',
      [id, m.checksum, m.name],
    );
    await client.query(m.sql);
    await client.query(
      'UPDATE "_prisma_migrations" SET finished_at = clock_timestamp(), applied_steps_count = 1 WHERE id = $1',
      [id],
    );
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK');
    throw new Error(`migration ${m.name} failed and was rolled back: ${(err as Error).message}`);
  }
}
