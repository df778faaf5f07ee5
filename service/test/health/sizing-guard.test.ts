import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { assessSizing, readCgroupLimits } from '../../src/health/sizing-guard';

/** Writes a fake cgroupfs: `files` maps paths below the root to contents. */
function fixture(files: Record<string, string>): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'cgroup-'));
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), text);
  }
  return root;
}

const GiB = 1024 ** 3;

describe('readCgroupLimits', () => {
  it('reads cgroup v2 quota and memory', () => {
    const root = fixture({
      'cgroup.controllers': 'cpu memory',
      'cpu.max': '200000 100000\n',
      'memory.max': `${2 * GiB}\n`,
    });
    expect(readCgroupLimits(root, '0::/\n')).toEqual({ cpuQuota: 2, memoryLimitBytes: 2 * GiB });
  });

  it('reads cgroup v2 "max" as unlimited', () => {
    const root = fixture({ 'cgroup.controllers': 'cpu memory', 'cpu.max': 'max 100000\n', 'memory.max': 'max\n' });
    expect(readCgroupLimits(root, '0::/\n')).toEqual({ cpuQuota: null, memoryLimitBytes: null });
  });

  it('reads a fractional v2 quota from the nested cgroup named in /proc/self/cgroup', () => {
    const root = fixture({
      'cgroup.controllers': 'cpu memory',
      'cpu.max': 'max 100000',
      'kubepods/pod1/cpu.max': '150000 100000',
      'kubepods/pod1/memory.max': String(512 * 1024 * 1024),
    });
    expect(readCgroupLimits(root, '0::/kubepods/pod1\n')).toEqual({
      cpuQuota: 1.5,
      memoryLimitBytes: 512 * 1024 * 1024,
    });
  });

  it('reads cgroup v1 (cpu,cpuacct and memory controllers)', () => {
    const root = fixture({
      'cpu,cpuacct/cpu.cfs_quota_us': '400000\n',
      'cpu,cpuacct/cpu.cfs_period_us': '100000\n',
      'memory/memory.limit_in_bytes': `${GiB}\n`,
    });
    expect(readCgroupLimits(root, '4:memory:/\n3:cpu,cpuacct:/\n')).toEqual({ cpuQuota: 4, memoryLimitBytes: GiB });
  });

  it('reads cgroup v1 unlimited values (-1 and 2^63 rounded to a page)', () => {
    const root = fixture({
      'cpu/cpu.cfs_quota_us': '-1\n',
      'cpu/cpu.cfs_period_us': '100000\n',
      'memory/memory.limit_in_bytes': '9223372036854771712\n',
    });
    expect(readCgroupLimits(root, '')).toEqual({ cpuQuota: null, memoryLimitBytes: null });
  });

  it('reads a fractional v1 quota with a non-default period', () => {
    const root = fixture({
      'cpu/cpu.cfs_quota_us': '25000',
      'cpu/cpu.cfs_period_us': '50000',
      'memory/memory.limit_in_bytes': '',
    });
    expect(readCgroupLimits(root, '')).toEqual({ cpuQuota: 0.5, memoryLimitBytes: null });
  });
});

describe('assessSizing', () => {
  it('is ok when workers fit the quota and heaps fit the memory limit', () => {
    expect(assessSizing(2, 384, { cpuQuota: 2, memoryLimitBytes: GiB })).toEqual({
      workers: 2,
      cpuQuota: 2,
      memoryLimitMiB: 1024,
      heapMiBPerWorker: 384,
      status: 'ok',
    });
  });

  it('flags more workers than CPUs of quota', () => {
    const r = assessSizing(4, 256, { cpuQuota: 2, memoryLimitBytes: 2 * GiB });
    expect(r.status).toBe('mismatch');
    expect(r.problems).toEqual(['4 workers but a CPU quota of 2 CPUs: workers will be throttled']);
  });

  it('flags heaps that add up above the memory limit', () => {
    const r = assessSizing(2, 768, { cpuQuota: null, memoryLimitBytes: GiB });
    expect(r.status).toBe('mismatch');
    expect(r.problems?.[0]).toContain('2 workers x 768 MiB heap = 1536 MiB, above the 1024 MiB memory limit');
  });

  it('treats unlimited as fitting, and a sub-1 quota as room for one worker', () => {
    expect(assessSizing(16, 4096, { cpuQuota: null, memoryLimitBytes: null }).status).toBe('ok');
    expect(assessSizing(1, 128, { cpuQuota: 0.5, memoryLimitBytes: null }).status).toBe('ok');
  });
});
