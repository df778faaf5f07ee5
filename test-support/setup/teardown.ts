import { rmSync } from 'node:fs';
import { withClient } from '../databases';

/** Every project's global teardown: drops the scratch database and the temporary folder, once. */
export default async function globalTeardown(): Promise<void> {
  const name = process.env.BOLTLINK_TEST_DB;
  if (name) {
    await withClient(process.env.BOLTLINK_TEST_ADMIN_URL!, (c) =>
      c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
    );
    delete process.env.BOLTLINK_TEST_DB;
  }
  const tmp = process.env.BOLTLINK_TEST_TMPDIR;
  if (tmp) {
    rmSync(tmp, { recursive: true, force: true });
    delete process.env.BOLTLINK_TEST_TMPDIR;
  }
}
