import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { migrate } from '../src/db/migrate';

/**
 * Once per run: compile (the PM2 and shutdown tests run the built service as
 * real processes), create a private database `boltlink_test_<random>` on the
 * PostgreSQL at DATABASE_URL (default the local one) and migrate it with the
 * project's own migration command. Test workers inherit the env set here.
 */
export default async function globalSetup(): Promise<void> {
  const admin = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  process.env.REDIS_URL ??= 'redis://127.0.0.1:6379';
  const name = `boltlink_test_${randomBytes(6).toString('hex')}`;
  const client = new Client({ connectionString: admin });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  await client.end();
  const url = new URL(admin);
  url.pathname = `/${name}`;
  process.env.BOLTLINK_TEST_ADMIN_URL = admin;
  process.env.BOLTLINK_TEST_DB = name;
  process.env.DATABASE_URL = url.toString();
  await migrate(process.env.DATABASE_URL);
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
}
