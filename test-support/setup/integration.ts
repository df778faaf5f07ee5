import { migrate } from '../../service/src/db/migrate';
import { databaseUnreachable } from '../../service/src/db/unreachable';
import { createScratchDatabase } from '../databases';
import { tmpSandbox } from '../sandbox';

/**
 * The integration project's global setup: a private database
 * `boltlink_test_<random>` on the PostgreSQL at DATABASE_URL (default the
 * local one), migrated with the project's own migration command. Once per
 * run, whichever projects ask for it; test workers inherit the env set here.
 */
export default async function scratchDatabase(): Promise<void> {
  tmpSandbox();
  if (process.env.BOLTLINK_TEST_DB) return;
  const admin = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  process.env.REDIS_URL ??= 'redis://127.0.0.1:6379';
  // The suites need a PostgreSQL they can log in to: say which key and what went wrong, as the service does.
  const db = await createScratchDatabase(admin, 'boltlink_test').catch((err: unknown) => {
    throw databaseUnreachable(admin, err);
  });
  process.env.BOLTLINK_TEST_ADMIN_URL = admin;
  process.env.BOLTLINK_TEST_DB = db.name;
  process.env.DATABASE_URL = db.url;
  await migrate(db.url);
}
