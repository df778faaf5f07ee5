import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort, ROOT, testEnv, waitFor } from '../helpers';

const run = promisify(execFile);
export const PM2_BIN = path.join(ROOT, 'node_modules/pm2/bin/pm2');
export const PM2_RUNTIME_BIN = path.join(ROOT, 'node_modules/pm2/bin/pm2-runtime');
export const ECOSYSTEM = path.join(ROOT, 'service/ecosystem.config.js');

export interface Pm2Worker {
  pid: number;
  pm_id: number;
  name: string;
  pm2_env: { status: string; exec_mode: string; restart_time: number; instances: number };
}

/** A PM2 of its own (private PM2_HOME) running the real ecosystem file against the suite's databases. */
export async function pm2Cluster(extraEnv: Record<string, string> = {}) {
  const port = await freePort();
  const env = {
    ...process.env,
    ...testEnv({ PORT: String(port), ...extraEnv }),
    PM2_HOME: mkdtempSync(path.join(os.tmpdir(), 'pm2-home-')),
    BOLTLINK_SIZING: 'local',
    PM2_INSTANCES: '2',
  };
  const pm2 = (...args: string[]) => run(process.execPath, [PM2_BIN, ...args], { env, cwd: ROOT });
  const base = `http://127.0.0.1:${port}`;
  const jlist = async (): Promise<Pm2Worker[]> => JSON.parse((await pm2('jlist')).stdout);
  await pm2('start', ECOSYSTEM);
  await waitFor(async () => (await fetch(`${base}/ready`).catch(() => null))?.status === 200, 20_000, 100);
  return {
    base,
    port,
    env,
    pm2,
    jlist,
    online: async () => (await jlist()).filter((w) => w.pm2_env.status === 'online'),
    async kill() {
      await pm2('kill').catch(() => undefined);
    },
  };
}

/** pm2-runtime, the container entrypoint, as a foreground child process. */
export async function pm2Runtime(extraEnv: Record<string, string> = {}) {
  const port = await freePort();
  const env = {
    ...process.env,
    ...testEnv({ PORT: String(port), ...extraEnv }),
    PM2_HOME: mkdtempSync(path.join(os.tmpdir(), 'pm2-home-')),
    BOLTLINK_SIZING: 'local',
    PM2_INSTANCES: '2',
  };
  const proc = spawn(process.execPath, [PM2_RUNTIME_BIN, ECOSYSTEM], {
    env,
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout.on('data', (d) => (output += d));
  proc.stderr.on('data', (d) => (output += d));
  const base = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${base}/ready`).catch(() => null))?.status === 200, 20_000, 100);
  return { proc, base, port, env, output: () => output };
}

/** User + system CPU ticks a process has used, from /proc. */
export function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]);
}
