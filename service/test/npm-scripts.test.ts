import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createScratchDatabase } from '../../test-support/databases';
import { freePort, ROOT, sqlAt, testEnv, waitFor, waitReady } from '../../test-support/service';
import { PM2_APP_NAME } from '../../common/contract';

const run = promisify(execFile);

/** The npm scripts a newcomer runs, run as they would run them: through npm, as real processes. */

describe('npm start', () => {
  it('stops gracefully when the npm process itself gets SIGTERM (npm forwards it to the service)', async () => {
    const port = await freePort();
    const npm = spawn('npm', ['start'], {
      cwd: ROOT,
      env: { ...process.env, ...testEnv({ PORT: String(port), LOG_LEVEL: 'info' }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    npm.stdout.on('data', (d) => (output += d));
    npm.stderr.on('data', (d) => (output += d));
    await waitReady(`http://127.0.0.1:${port}`);
    const pid = JSON.parse(output.split('\n').find((l) => l.includes('"listening"'))!).pid as number;
    try {
      const exited = once(npm, 'exit');
      npm.kill('SIGTERM');
      const [code] = await exited;
      expect({ code, log: code === 0 ? '' : output }).toEqual({ code: 0, log: '' });
      expect(output).toContain('shutdown complete');
      // The service itself is gone too, not orphaned under pid 1.
      await waitFor(() => !existsSync(`/proc/${pid}`), 5_000);
    } finally {
      if (existsSync(`/proc/${pid}`)) process.kill(pid, 'SIGKILL');
    }
  });
});

describe('a fresh clone (no dist/)', () => {
  it('npm run db:migrate builds first, then migrates; npm start then serves', async () => {
    const clone = mkdtempSync(path.join(os.tmpdir(), 'boltlink-clone-'));
    // The service and the floor it imports: no infra/ (the service builds and runs without it).
    for (const f of ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'prisma.config.ts', 'service', 'common']) {
      cpSync(path.join(ROOT, f), path.join(clone, f), {
        recursive: true,
        filter: (src) => !src.includes(`${path.sep}generated`),
      });
    }
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(clone, 'node_modules'));
    const db = await createScratchDatabase(process.env.BOLTLINK_TEST_ADMIN_URL!, 'boltlink_clone');
    try {
      const env = { ...process.env, ...testEnv({ DATABASE_URL: db.url }) };
      const migrated = await run('npm', ['run', 'db:migrate'], { cwd: clone, env });
      expect(migrated.stderr).toContain('dist/ is missing or older than its sources: running npm run build');
      expect(existsSync(path.join(clone, 'dist/.built'))).toBe(true);
      expect(
        (await sqlAt<{ n: number }>(db.url, 'SELECT count(*)::int AS n FROM "_prisma_migrations"'))[0]!.n,
      ).toBeGreaterThan(0);
      // Built once: the second command starts without building again.
      const port = await freePort();
      const started = spawn('npm', ['start'], {
        cwd: clone,
        env: { ...env, PORT: String(port) },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      started.stderr.on('data', (d) => (stderr += d));
      await waitReady(`http://127.0.0.1:${port}`);
      const exited = once(started, 'exit');
      started.kill('SIGTERM');
      expect((await exited)[0]).toBe(0);
      expect(stderr).not.toContain('running npm run build');
    } finally {
      await db.drop();
    }
  }, 120_000);
});

describe('npm run start:cluster / stop:cluster', () => {
  /** A home of its own: PM2's default home (~/.pm2) is then private to the test. */
  const home = () => mkdtempSync(path.join(os.tmpdir(), 'home-'));
  const npmRun = (script: string, env: NodeJS.ProcessEnv, args: string[] = []) =>
    run('npm', ['run', '-s', script, ...(args.length ? ['--', ...args] : [])], { cwd: ROOT, env }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );
  const daemonAlive = (h: string) => {
    const pidFile = path.join(h, '.pm2/pm2.pid');
    return existsSync(pidFile) && existsSync(`/proc/${readFileSync(pidFile, 'utf8').trim()}`);
  };
  const clusterEnv = async (h: string, extra: Record<string, string> = {}) => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...testEnv({ PORT: String(await freePort()), METRICS_PORT: String(await freePort()), ...extra }),
      HOME: h,
    };
    delete env.PM2_HOME;
    return env;
  };

  it('with nothing running: status says so and starts no daemon, restart refuses, stop says so', async () => {
    const h = home();
    const env = await clusterEnv(h);
    expect(await npmRun('status', env)).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^nothing running: no PM2 daemon in /),
    });
    expect(daemonAlive(h)).toBe(false);
    expect(await npmRun('restart:cluster', env)).toMatchObject({
      code: 1,
      stderr: `${PM2_APP_NAME} is not running: npm run start:cluster starts it (and waits until its workers are ready)\n`,
    });
    expect(daemonAlive(h)).toBe(false);
    expect(await npmRun('stop:cluster', env)).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(new RegExp(`^${PM2_APP_NAME} was not running`)),
    });
  }, 60_000);

  it('refuses a configuration the workers cannot run with before starting anything, naming every key', async () => {
    const h = home();
    const env = await clusterEnv(h, { NODE_ENV: 'production' });
    delete env.API_TOKENS;
    delete env.PUBLIC_BASE_URL;
    const r = await npmRun('start:cluster', env);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toBe(
      'start:cluster refused: Invalid configuration: API_TOKENS: is required; PUBLIC_BASE_URL: is required when NODE_ENV=production\n',
    );
    expect(daemonAlive(h)).toBe(false);
  }, 60_000);

  it('fails with the workers’ own error when they cannot start, and leaves nothing running', async () => {
    const h = home();
    const closed = await freePort();
    const env = await clusterEnv(h, { DATABASE_URL: `postgresql://postgres@127.0.0.1:${closed}/postgres` });
    const r = await npmRun('start:cluster', env);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('start:cluster failed: workers exited and were restarted');
    expect(r.stderr).toContain(`DATABASE_URL (127.0.0.1:${closed}/postgres) is unreachable`);
    expect(daemonAlive(h)).toBe(false);
  }, 60_000);

  it('starts ready workers that the guide’s `npx pm2 status` lists; stop leaves no daemon, so no stale environment', async () => {
    const h = home();
    const first = await clusterEnv(h, { FAULT_INJECTION: 'true' });
    const started = await npmRun('start:cluster', first);
    expect(started).toMatchObject({ code: 0, stdout: expect.stringContaining('2 workers ready') });
    const base = `http://127.0.0.1:${first.PORT}`;
    expect((await fetch(`${base}/__fault/whoami`)).status).toBe(200);
    const status = await run('npx', ['--no-install', 'pm2', 'status'], { cwd: ROOT, env: { ...process.env, HOME: h } });
    expect(status.stdout.split('\n').filter((l) => l.includes(PM2_APP_NAME) && l.includes('online'))).toHaveLength(2);
    // npm run logs names the app itself (PM2 says `[all] processes` when it is given none), and passes options on.
    const logs = await npmRun('logs', first, ['--nostream', '--lines', '5']);
    expect(logs).toMatchObject({
      code: 0,
      stdout: expect.stringContaining(`last 5 lines for [${PM2_APP_NAME}] process`),
      stderr: expect.stringContaining('PM2 keeps no log files here'),
    });
    const status2 = await npmRun('status', first);
    expect(status2.stdout.split('\n').filter((l) => l.includes(PM2_APP_NAME) && l.includes('online'))).toHaveLength(2);

    expect(await npmRun('stop:cluster', first)).toMatchObject({
      code: 0,
      stdout: `${PM2_APP_NAME}: stopped 2 worker(s)\n`,
    });
    expect(daemonAlive(h)).toBe(false);

    const second = { ...first };
    delete second.FAULT_INJECTION;
    expect((await npmRun('start:cluster', second)).code).toBe(0);
    try {
      expect((await fetch(`${base}/__fault/whoami`)).status).toBe(404);
    } finally {
      await npmRun('stop:cluster', second);
    }
  }, 90_000);
});
