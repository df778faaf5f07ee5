import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../synth-helpers';

const MONITORING_DOC = path.join(ROOT, 'docs/monitoring.md');

/** npm run docs -- --check (in a child: Prettier formats the table and loads itself as ES modules). */
const check = (file: string) =>
  spawnSync('npx', ['--no-install', 'tsx', 'infra/monitoring/docs.ts', '--check', file], {
    cwd: ROOT,
    encoding: 'utf8',
  });

describe('docs/monitoring.md', () => {
  it('lists the alerts as the rules define them (npm run docs regenerates the table)', () => {
    expect(check(MONITORING_DOC)).toMatchObject({ status: 0, stderr: '' });
  });

  it('is reported stale when an alert differs from the rules (the check can fail)', () => {
    const copy = path.join(mkdtempSync(path.join(os.tmpdir(), 'docs-')), 'monitoring.md');
    copyFileSync(MONITORING_DOC, copy);
    writeFileSync(
      copy,
      readFileSync(copy, 'utf8').replace('BoltLinkWorkerRestartLoop`', 'BoltLinkWorkerRestartLoopOld`'),
    );
    const r = check(copy);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('is stale: run npm run docs');
  });
});
