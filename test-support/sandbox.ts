import { chmodSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Every temporary file of a run (cdk8s test apps, PM2 homes, scratch projects,
 * sockets) lands in one folder that the global teardown removes, whatever a
 * test did. Sets TMPDIR for the test workers and what they spawn. Once per
 * run, whichever projects run.
 */
export function tmpSandbox(): void {
  if (process.env.BOLTLINK_TEST_TMPDIR) return;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'boltlink-test-'));
  // Traversable, so a private PostgreSQL running as its own user reaches its data folder inside.
  chmodSync(tmp, 0o711);
  process.env.BOLTLINK_TEST_TMPDIR = tmp;
  process.env.TMPDIR = tmp;
}
