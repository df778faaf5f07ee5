import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { BYTES_PER_MIB } from '../../../common/contract';

/**
 * The runtime guard: the image bakes a worker count (PM2_INSTANCES) and heap
 * from common/sizing.ts, but nothing stops someone running it in a container
 * with fewer CPUs or less memory. At start-up we read the container's real
 * cgroup limits and report a mismatch in /health and in one warning log line.
 */

export interface CgroupLimits {
  /** CPUs of CFS quota (quota / period), null when unlimited. */
  readonly cpuQuota: number | null;
  /** Memory limit in bytes, null when unlimited. */
  readonly memoryLimitBytes: number | null;
}

export interface SizingReport {
  readonly workers: number;
  readonly cpuQuota: number | null;
  readonly memoryLimitMiB: number | null;
  readonly heapMiBPerWorker: number;
  readonly status: 'ok' | 'mismatch';
  readonly problems?: readonly string[];
}

/** cgroup v1 reports "no limit" as a page-rounded 2^63-1; anything this large is unlimited. */
const V1_UNLIMITED_BYTES = 2 ** 60;

/**
 * Reads the limits of the cgroup this process is in. `root` is where cgroupfs
 * is mounted and `selfCgroup` the text of /proc/self/cgroup (both injectable for
 * fixture tests). Handles cgroup v2 (`cpu.max`, `memory.max`) and v1
 * (`cpu.cfs_quota_us`/`cpu.cfs_period_us`, `memory.limit_in_bytes`).
 */
export function readCgroupLimits(root = '/sys/fs/cgroup', selfCgroup = readOrEmpty('/proc/self/cgroup')): CgroupLimits {
  const paths = parseSelfCgroup(selfCgroup);
  if (existsSync(path.join(root, 'cgroup.controllers'))) {
    const dir = firstExisting([path.join(root, paths.get('') ?? ''), root], 'cpu.max') ?? root;
    return {
      cpuQuota: parseCpuMax(readOrEmpty(path.join(dir, 'cpu.max'))),
      memoryLimitBytes: parseV2Memory(readOrEmpty(path.join(dir, 'memory.max'))),
    };
  }
  const cpuBase = firstExisting(
    ['cpu', 'cpu,cpuacct'].map((c) => path.join(root, c)),
    'cpu.cfs_quota_us',
  );
  const cpuDir =
    cpuBase && (firstExisting([path.join(cpuBase, paths.get('cpu') ?? ''), cpuBase], 'cpu.cfs_quota_us') ?? cpuBase);
  const memBase = path.join(root, 'memory');
  const memDir =
    firstExisting([path.join(memBase, paths.get('memory') ?? ''), memBase], 'memory.limit_in_bytes') ?? memBase;
  return {
    cpuQuota: cpuDir
      ? parseV1Cpu(
          readOrEmpty(path.join(cpuDir, 'cpu.cfs_quota_us')),
          readOrEmpty(path.join(cpuDir, 'cpu.cfs_period_us')),
        )
      : null,
    memoryLimitBytes: parseV1Memory(readOrEmpty(path.join(memDir, 'memory.limit_in_bytes'))),
  };
}

/** `cpu.max` is "<quota> <period>" or "max <period>". */
export function parseCpuMax(text: string): number | null {
  const [quota, period] = text.trim().split(/\s+/);
  if (!quota || quota === 'max') return null;
  return ratio(Number(quota), Number(period ?? 100_000));
}

export function parseV1Cpu(quotaText: string, periodText: string): number | null {
  const quota = Number(quotaText.trim());
  if (!Number.isFinite(quota) || quota <= 0) return null;
  return ratio(quota, Number(periodText.trim() || 100_000));
}

export function parseV2Memory(text: string): number | null {
  const t = text.trim();
  if (t === '' || t === 'max') return null;
  const n = Number(t);
  return Number.isFinite(n) && n > 0 ? n : null;
}

export function parseV1Memory(text: string): number | null {
  const n = Number(text.trim());
  return Number.isFinite(n) && n > 0 && n < V1_UNLIMITED_BYTES ? n : null;
}

/** Compares the baked sizing with the container's limits. */
export function assessSizing(workers: number, heapMiBPerWorker: number, limits: CgroupLimits): SizingReport {
  const memoryLimitMiB = limits.memoryLimitBytes === null ? null : Math.floor(limits.memoryLimitBytes / BYTES_PER_MIB);
  const problems: string[] = [];
  if (limits.cpuQuota !== null && workers > Math.max(1, Math.floor(limits.cpuQuota + 1e-9))) {
    problems.push(`${workers} workers but a CPU quota of ${limits.cpuQuota} CPUs: workers will be throttled`);
  }
  if (memoryLimitMiB !== null && workers * heapMiBPerWorker > memoryLimitMiB) {
    problems.push(
      `${workers} workers x ${heapMiBPerWorker} MiB heap = ${workers * heapMiBPerWorker} MiB, above the ${memoryLimitMiB} MiB memory limit: the container will be OOM-killed`,
    );
  }
  return {
    workers,
    cpuQuota: limits.cpuQuota,
    memoryLimitMiB,
    heapMiBPerWorker,
    status: problems.length === 0 ? 'ok' : 'mismatch',
    ...(problems.length > 0 ? { problems } : {}),
  };
}

function ratio(quota: number, period: number): number | null {
  if (!Number.isFinite(quota) || !Number.isFinite(period) || quota <= 0 || period <= 0) return null;
  return Math.round((quota / period) * 1000) / 1000;
}

/** Maps each v1 controller (and "" for v2) to this process's cgroup path. */
function parseSelfCgroup(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of text.split('\n')) {
    const [, controllers, p] = line.split(':');
    if (p === undefined) continue;
    for (const c of (controllers ?? '').split(',')) map.set(c.replace(/^name=/, ''), p);
  }
  return map;
}

function firstExisting(dirs: readonly string[], file: string): string | undefined {
  return dirs.find((d) => existsSync(path.join(d, file)));
}

function readOrEmpty(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
