import type { Pool } from 'pg';
import { MIGRATIONS_DIR, migrationNames } from './migrate';

/** How the database's applied migrations compare with the ones this release ships. */
export interface SchemaStatus {
  /** Shipped but not applied: this code would query tables or columns that do not exist yet. */
  readonly missing: readonly string[];
  /** Applied but not shipped: an older release on a newer schema (fine while migrations are backward compatible). */
  readonly unknown: readonly string[];
}

const UNDEFINED_TABLE = '42P01';

/** Reads `_prisma_migrations` (finished, not rolled back); a database never migrated has none applied. */
export async function schemaStatus(pool: Pool, dir = MIGRATIONS_DIR): Promise<SchemaStatus> {
  const shipped = await migrationNames(dir);
  const applied = await pool
    .query<{ migration_name: string }>(
      'SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL',
    )
    .then((r) => r.rows.map((row) => row.migration_name))
    .catch((err: { code?: string }) => {
      if (err.code === UNDEFINED_TABLE) return [];
      throw err;
    });
  const appliedSet = new Set(applied);
  const shippedSet = new Set(shipped);
  return {
    missing: shipped.filter((m) => !appliedSet.has(m)),
    unknown: applied.filter((m) => !shippedSet.has(m)).sort(),
  };
}
