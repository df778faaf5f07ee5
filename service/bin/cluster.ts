/**
 * `npm run start:cluster`, `stop:cluster`, `status` and `restart:cluster`: PM2 cluster mode on this
 * machine, in PM2's own home (~/.pm2, or PM2_HOME), so the guide's commands
 * (`npx pm2 status`, `npx pm2 logs`, `npx pm2 monit`) see it as written.
 *
 * Hand-written rather than a bare `pm2 start`, which prints "launched" and
 * exits 0 while the workers crash-loop in the background: start waits until
 * every worker is ready and otherwise fails with the workers' own output
 * (a config error, an unreachable database, a schema to migrate) and removes
 * what it started. The PM2 daemon keeps the environment it was started with,
 * so stop removes the daemon once no app is left, and start replaces an idle
 * daemon: a later start never runs with a stale environment.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CONFIG_ERROR_EXIT_CODE, DEFAULT_PORT, PM2_APP_NAME as APP } from '../../common/contract';
import { sizingFor } from '../../common/sizing';
import { ConfigError, loadConfig } from '../src/config';

const ROOT = path.resolve(__dirname, '../..');
const PM2 = path.join(ROOT, 'node_modules/pm2/bin/pm2');
const ECOSYSTEM = path.join(ROOT, 'service/ecosystem.config.js');
/** Consecutive 200s from /ready on new connections before the cluster counts as ready. */
const READY_ANSWERS = 3;
const POLL_MS = 250;
const run = promisify(execFile);

const environment = process.env.BOLTLINK_SIZING || 'local';
const sizing = sizingFor(environment);
const env = {
  ...process.env,
  BOLTLINK_SIZING: environment,
  PM2_INSTANCES: process.env.PM2_INSTANCES || String(sizing.pm2Instances),
};
const pm2Home = process.env.PM2_HOME || path.join(os.homedir(), '.pm2');
const pm2 = async (...args: string[]) => (await run(process.execPath, [PM2, ...args], { env, cwd: ROOT })).stdout;

interface Pm2Process {
  name: string;
  pm2_env: { status: string; restart_time: number; exit_code?: number };
}

/** Whether a PM2 daemon runs for this home (asking `pm2 jlist` would start one). */
function daemonRunning(): boolean {
  const pidFile = path.join(pm2Home, 'pm2.pid');
  if (!existsSync(pidFile)) return false;
  try {
    process.kill(Number(readFileSync(pidFile, 'utf8')), 0);
    return true;
  } catch {
    return false;
  }
}

async function apps(): Promise<Pm2Process[]> {
  return daemonRunning() ? (JSON.parse(await pm2('jlist')) as Pm2Process[]) : [];
}

/**
 * Removes our app and, when it ran nothing else, the daemon (which holds the
 * environment it was started with). A daemon shared with other apps keeps
 * running; our app is deleted until it stays gone (PM2 relaunches a worker
 * whose restart was pending when it was deleted).
 */
async function removeApp(): Promise<void> {
  if (!daemonRunning()) return;
  if ((await apps()).every((a) => a.name === APP)) {
    await pm2('kill');
    return;
  }
  for (let attempt = 0; attempt < 10 && (await apps()).some((a) => a.name === APP); attempt++) {
    await pm2('delete', APP);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

function readyOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    http
      .get({ host: '127.0.0.1', port, path: '/ready', agent: false, timeout: 1_000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      })
      .on('timeout', function (this: http.ClientRequest) {
        this.destroy();
      })
      .on('error', () => resolve(false));
  });
}

/** Before removing the daemon: a `pm2 logs` that loses its daemon starts a new one. */
async function stopLogs(logs: ChildProcess): Promise<void> {
  const exited = logs.exitCode === null ? once(logs, 'exit') : undefined;
  logs.kill();
  await exited;
}

async function start(): Promise<number> {
  execFileSync('sh', [path.join(ROOT, 'service/bin/ensure-built.sh')], { stdio: 'inherit' });
  const running = await apps();
  if (running.some((a) => a.name === APP)) {
    process.stderr.write(
      `${APP} is already running: npm run restart:cluster reloads it, npm run stop:cluster stops it\n`,
    );
    return 1;
  }
  // The workers' own parser first: a configuration they cannot run with is said here, once, and
  // nothing starts (under PM2 such a worker exits with CONFIG_ERROR_EXIT_CODE and is not restarted).
  try {
    loadConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`start:cluster refused: ${err.message}\n`);
    return 1;
  }
  // An idle daemon would hand the workers the environment of whoever started it.
  if (daemonRunning() && running.length === 0) await pm2('kill');

  const port = Number(process.env.PORT || DEFAULT_PORT);
  const workers = Number(env.PM2_INSTANCES);
  try {
    await pm2('start', ECOSYSTEM);
  } catch (err) {
    process.stderr.write(
      `start:cluster failed: pm2 start refused the ecosystem file:\n${(err as { stderr?: string }).stderr ?? String(err)}\n`,
    );
    await removeApp();
    return 1;
  }
  // The workers' output, for the failure message (their log files are /dev/null; PM2 streams it).
  // Only now: `pm2 logs` would start a daemon of its own if none ran yet. A crash-looping
  // worker repeats its error at every restart, so what the first attempt said is said again.
  let output = '';
  const logs = spawn(process.execPath, [PM2, 'logs', APP, '--raw', '--lines', '0'], { env, cwd: ROOT });
  logs.stdout.on('data', (d) => (output += d));
  logs.stderr.on('data', (d) => (output += d));
  try {
    const deadline = Date.now() + sizing.startupTimeoutMs + 10_000;
    let answers = 0;
    let failure = '';
    while (!failure && answers < READY_ANSWERS) {
      const ours = (await apps()).filter((a) => a.name === APP);
      const restarts = ours.reduce((n, a) => n + a.pm2_env.restart_time, 0);
      const online = ours.filter((a) => a.pm2_env.status === 'online').length;
      answers = online === workers && (await readyOnce(port)) ? answers + 1 : 0;
      if (answers >= READY_ANSWERS) break;
      // PM2 shows a worker that exited with the configuration error as "waiting restart", and never restarts it.
      const exited = ours.filter(
        (a) => a.pm2_env.status !== 'online' && a.pm2_env.exit_code === CONFIG_ERROR_EXIT_CODE,
      ).length;
      if (restarts > 0) failure = `workers exited and were restarted ${restarts} time(s)`;
      else if (exited > 0) failure = `${exited} worker(s) exited and were not restarted (a configuration error)`;
      else if (Date.now() > deadline)
        failure = `not ready on port ${port} within ${sizing.startupTimeoutMs + 10_000} ms`;
      else await new Promise((r) => setTimeout(r, POLL_MS));
    }
    if (!failure) {
      process.stdout.write(`${APP}: ${workers} workers ready on port ${port} (npx pm2 status, npx pm2 logs)\n`);
      return 0;
    }
    // A moment for the restarted workers' output to arrive.
    await new Promise((r) => setTimeout(r, 1_500));
    const lines = output.trim().split('\n').filter(Boolean).slice(-20).join('\n');
    process.stderr.write(`start:cluster failed: ${failure}; the workers said:\n${lines || '(nothing)'}\n`);
  } finally {
    await stopLogs(logs);
  }
  await removeApp();
  return 1;
}

/** `npm run stop:cluster`: says what it stopped, or that nothing ran. */
async function stop(): Promise<number> {
  const ours = (await apps()).filter((a) => a.name === APP);
  await removeApp();
  process.stdout.write(
    ours.length > 0 ? `${APP}: stopped ${ours.length} worker(s)\n` : `${APP} was not running (PM2 home ${pm2Home})\n`,
  );
  return 0;
}

/** `npm run status`: PM2's table, without starting a daemon (pm2 status would) when none runs. */
async function status(): Promise<number> {
  if (!daemonRunning()) {
    process.stdout.write(`nothing running: no PM2 daemon in ${pm2Home} (npm run start:cluster starts ${APP})\n`);
    return 0;
  }
  process.stdout.write(await pm2('status'));
  return 0;
}

/**
 * `npm run restart:cluster`: a zero-downtime reload of the running cluster. With
 * nothing running, `pm2 reload` would start the app without start's checks
 * (workers ready, their errors shown): it says so instead.
 */
async function restart(): Promise<number> {
  if (!(await apps()).some((a) => a.name === APP)) {
    process.stderr.write(
      `${APP} is not running: npm run start:cluster starts it (and waits until its workers are ready)\n`,
    );
    return 1;
  }
  execFileSync(process.execPath, [PM2, 'reload', ECOSYSTEM, '--update-env'], { env, cwd: ROOT, stdio: 'inherit' });
  return 0;
}

const COMMANDS: Record<string, () => Promise<number>> = { start, stop, status, restart };

async function main(): Promise<number> {
  const command = COMMANDS[process.argv[2] ?? ''];
  if (command) return command();
  process.stderr.write(`usage: cluster.ts ${Object.keys(COMMANDS).join('|')}\n`);
  return 2;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`cluster: ${(err as Error).message}\n`);
    process.exitCode = 1;
  },
);
