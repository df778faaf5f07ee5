import { spawnSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { NO_TRANSACTION_MARKER } from '../../src/db/migrate';
import { ROOT } from '../../../test-support/root';

/** npm run lint:migrations on a copy of the migrations with one crafted migration added (never committed). */
async function lintWith(name: string, sql: string) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lint-migrations-'));
  await cp(path.join(ROOT, 'service/prisma/migrations'), dir, { recursive: true });
  await mkdir(path.join(dir, name));
  await writeFile(path.join(dir, name, 'migration.sql'), sql);
  const r = spawnSync('npx', ['--no-install', 'tsx', 'service/bin/lint-migrations.ts', '--dir', dir], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { status: r.status, output: (r.stdout + r.stderr).replace(/\x1b\[[0-9;]*m/g, '') };
}

describe('npm run lint:migrations (squawk)', () => {
  it('fails a migration that locks out writes or breaks the running release, naming each rule', async () => {
    const r = await lintWith(
      '29991231000000_unsafe',
      [
        'ALTER TABLE links ADD COLUMN domain TEXT NOT NULL;',
        'CREATE INDEX links_domain_idx ON links (domain);',
        'ALTER TABLE links RENAME COLUMN url TO target;',
        'ALTER TABLE links DROP COLUMN clicks;',
        'ALTER TABLE links ALTER COLUMN slug TYPE text;',
        '',
      ].join('\n'),
    );
    expect(r.status).not.toBe(0);
    for (const rule of [
      'adding-required-field',
      'require-concurrent-index-creation',
      'renaming-column',
      'ban-drop-column',
      'changing-column-type',
    ]) {
      expect(r.output).toContain(rule);
    }
  });

  it('asks a no-transaction migration for statements that are safe to run again', async () => {
    const r = await lintWith(
      '29991231000000_not_robust',
      `${NO_TRANSACTION_MARKER}\nCREATE INDEX CONCURRENTLY links_url_idx ON links (url);\n`,
    );
    expect(r.status).not.toBe(0);
    expect(r.output).toContain('prefer-robust-stmts');
    const robust = await lintWith(
      '29991231000000_robust',
      `${NO_TRANSACTION_MARKER}\nCREATE INDEX CONCURRENTLY IF NOT EXISTS links_url_idx ON links (url);\n`,
    );
    expect(robust).toMatchObject({ status: 0 });
  });
});
