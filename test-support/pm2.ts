import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { DEFAULT_METRICS_PORT } from '../common/contract';
import { freePort, ROOT, spawnNode, spawnServing, testEnv, waitReady } from './service';

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

/**
 * A private PM2_HOME, a free port and the `local` sizing (2 workers), against
 * the suite's databases, with the default metrics port (what users keep: a
 * replaced worker once crash-looped on it while tests used port 0).
 */
async function pm2Env(extraEnv: Record<string, string | undefined>) {
  const port = await freePort();
  const env = {
    ...process.env,
    ...testEnv({ PORT: String(port), METRICS_PORT: String(DEFAULT_METRICS_PORT), ...extraEnv }),
    PM2_HOME: mkdtempSync(path.join(os.tmpdir(), 'pm2-home-')),
    BOLTLINK_SIZING: 'local',
    PM2_INSTANCES: '2',
  };
  return { port, env };
}

/** A PM2 daemon of its own running the real ecosystem file. */
export async function pm2Cluster(extraEnv: Record<string, string> = {}) {
  const { port, env } = await pm2Env(extraEnv);
  const pm2 = (...args: string[]) => run(process.execPath, [PM2_BIN, ...args], { env, cwd: ROOT });
  const base = `http://127.0.0.1:${port}`;
  const jlist = async (): Promise<Pm2Worker[]> => JSON.parse((await pm2('jlist')).stdout);
  await pm2('start', ECOSYSTEM);
  await waitReady(base);
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

/** pm2-runtime, the container entrypoint, as a foreground child process; resolves once ready. */
export async function pm2Runtime(extraEnv: Record<string, string> = {}) {
  const { port, env } = await pm2Env(extraEnv);
  return spawnServing([PM2_RUNTIME_BIN, ECOSYSTEM], env, port);
}

/** `pm2Runtime`, resolved as soon as it is spawned (the tests of start-up). */
export async function pm2RuntimeStarting(extraEnv: Record<string, string | undefined> = {}) {
  const { port, env } = await pm2Env(extraEnv);
  return spawnNode([PM2_RUNTIME_BIN, ECOSYSTEM], env, port);
}

/** User + system CPU ticks a process has used, from /proc. */
export function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]);
}
