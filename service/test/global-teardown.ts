import { rmSync } from 'node:fs';
import { withClient } from './databases';

export default async function globalTeardown(): Promise<void> {
  const name = process.env.BOLTLINK_TEST_DB;
  if (name) {
    await withClient(process.env.BOLTLINK_TEST_ADMIN_URL!, (c) =>
      c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
    );
  }
  const tmp = process.env.BOLTLINK_TEST_TMPDIR;
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}
