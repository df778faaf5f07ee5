import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { readMigrations } from '../src/db/migrate';

/**
 * `npm run lint:migrations` (make check): squawk over every migration, with
 * the project's settings (.squawk.toml, each rule turned off with its reason).
 * A transactional migration is linted as the migrator runs it, inside a
 * transaction; one marked `-- boltlink: no-transaction` outside one, where
 * squawk also asks that each statement be safe to run again. Fails on DDL that
 * locks out writes or breaks the running release (a blocking index build, a
 * NOT NULL column without a default, a rename, a drop, a type change).
 */
async function main(): Promise<number> {
  const { values } = parseArgs({ options: { dir: { type: 'string' } }, strict: true });
  const root = path.resolve(__dirname, '../..');
  const dir = values.dir ?? path.join(root, 'service/prisma/migrations');
  const migrations = await readMigrations(dir);
  const file = (name: string) => path.join(dir, name, 'migration.sql');
  let status = 0;
  for (const [transactional, flag] of [
    [true, '--assume-in-transaction'],
    [false, '--no-assume-in-transaction'],
  ] as const) {
    const files = migrations.filter((m) => m.transactional === transactional).map((m) => file(m.name));
    if (files.length === 0) continue;
    const r = spawnSync('squawk', ['--config', path.join(root, '.squawk.toml'), flag, ...files], { stdio: 'inherit' });
    if (r.error) {
      process.stderr.write(
        'lint:migrations needs squawk on the PATH: pip install squawk-cli==2.70.0 (.ci/run installs it)\n',
      );
      return 2;
    }
    status ||= r.status ?? 1;
  }
  if (status === 0) process.stdout.write(`squawk: ${migrations.length} migrations, no problem\n`);
  return status;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`lint:migrations: ${(err as Error).message}\n`);
    process.exitCode = 2;
  },
);
