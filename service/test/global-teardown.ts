import { Client } from 'pg';

export default async function globalTeardown(): Promise<void> {
  const name = process.env.BOLTLINK_TEST_DB;
  if (!name) return;
  const client = new Client({ connectionString: process.env.BOLTLINK_TEST_ADMIN_URL });
  await client.connect();
  await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await client.end();
}
