import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './root';

/** The test files jest would run, as repository paths: a project of jest.config.js, or another config. */
function listed(...args: string[]): string[] {
  const out = execFileSync('npx', ['--no-install', 'jest', '--listTests', ...args], { cwd: ROOT, encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => l.endsWith('.test.ts'))
    .map((f) => path.relative(ROOT, f))
    .sort();
}

describe('the jest projects (test-support/jest-projects.js)', () => {
  it('run every test file exactly once: unit, integration, process, or a make target of its own', () => {
    const all = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.test.ts'], {
      cwd: ROOT,
      encoding: 'utf8',
    })
      .split('\n')
      .filter(Boolean)
      .sort();
    const owners = [
      ...['unit', 'integration', 'process'].map((p) => listed('--selectProjects', p)),
      listed('-c', 'jest.reliability.config.js'),
      listed('-c', 'jest.image.config.js'),
      listed('-c', 'jest.cluster.config.js'),
    ];
    const counted = new Map(all.map((f) => [f, 0]));
    for (const files of owners) for (const f of files) counted.set(f, (counted.get(f) ?? 0) + 1);
    expect([...counted].filter(([, n]) => n !== 1)).toEqual([]);
  });
});
