import { execFileSync } from 'node:child_process';
import { migrate } from '../src/db/migrate';
import { createScratchDatabase } from './databases';
import { tmpSandbox } from './tmp-sandbox';

/**
 * Once per run: create a private database `boltlink_test_<random>` on the
 * PostgreSQL at DATABASE_URL (default the local one), migrate it with the
 * project's own migration command, and build (the PM2 and shutdown tests run
 * the built service as real processes). Test workers inherit the env set here.
 */
export default async function globalSetup(): Promise<void> {
  tmpSandbox();
  const admin = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  process.env.REDIS_URL ??= 'redis://127.0.0.1:6379';
  const db = await createScratchDatabase(admin, 'boltlink_test');
  process.env.BOLTLINK_TEST_ADMIN_URL = admin;
  process.env.BOLTLINK_TEST_DB = db.name;
  process.env.DATABASE_URL = db.url;
  await migrate(db.url);
  // The same build as `npm run build` (migrations copied beside the compiled code, which reads them).
  execFileSync('npm', ['run', '-s', 'build'], { stdio: 'inherit' });
}
