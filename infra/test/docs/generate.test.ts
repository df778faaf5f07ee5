import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../../../test-support/synth';

/** npm run docs -- --check (in a child: Prettier formats the tables and loads itself as ES modules). */
const check = (...files: string[]) =>
  spawnSync('npx', ['--no-install', 'tsx', 'infra/docs/generate.ts', '--check', ...files], {
    cwd: ROOT,
    encoding: 'utf8',
  });

/** A copy of docs/<page> with one edit, under a scratch folder (the page's name picks its blocks). */
function editedCopy(page: string, from: string, to: string): string {
  const copy = path.join(mkdtempSync(path.join(os.tmpdir(), 'docs-')), page);
  copyFileSync(path.join(ROOT, 'docs', page), copy);
  const text = readFileSync(copy, 'utf8');
  expect(text).toContain(from);
  writeFileSync(copy, text.replace(from, to));
  return copy;
}

describe('generated docs (npm run docs)', () => {
  it('docs/monitoring.md and docs/configuration.md are as the code defines them', () => {
    expect(check()).toMatchObject({ status: 0, stderr: '' });
  });

  it.each([
    ['monitoring.md', 'an alert renamed', 'BoltLinkWorkerRestartLoop`', 'BoltLinkWorkerRestartLoopOld`'],
    [
      'configuration.md',
      "a key's default changed",
      '| `RATE_LIMIT_CREATES`         | `120`',
      '| `RATE_LIMIT_CREATES`         | `100`',
    ],
    ['configuration.md', 'a key missing', '| `METRICS_TIMEOUT_MS`', '| `METRICS_DEADLINE_MS`'],
  ])('reports %s stale when %s', (page, _what, from, to) => {
    const r = check(editedCopy(page, from, to));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${page} is stale: run npm run docs`);
  });
});
