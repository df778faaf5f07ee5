/**
 * PM2 cluster mode for the BoltLink backend. Every number comes from
 * common/sizing.ts (compiled to dist/common/sizing.js): the image bakes
 * PM2_INSTANCES and BOLTLINK_SIZING from it, and this file derives the rest
 * (heap, memory restarts, kill_timeout, pool size) from the same declaration.
 *
 * Never `instances: 'max'`: PM2 counts the host's CPUs, not the container's
 * quota, so a 2-CPU pod on a 64-core node would fork 64 workers.
 */
const path = require('node:path');
const { nodeHeapArgs, sizingFor } = require('../dist/common/sizing.js');
const { CONFIG_ERROR_EXIT_CODE, PM2_APP_NAME } = require('../dist/common/contract.js');

const environment = process.env.BOLTLINK_SIZING || 'local';
const sizing = sizingFor(environment);

function requireInstances(raw) {
  if (raw === undefined || raw === '') {
    throw new Error(
      `PM2_INSTANCES is not set. The image bakes it from common/sizing.ts; outside the image use the npm scripts ` +
        `(npm run start:cluster), which set it from the '${environment}' sizing (${sizing.pm2Instances}).`,
    );
  }
  if (!/^[1-9][0-9]*$/.test(raw)) throw new Error(`PM2_INSTANCES must be a positive whole number, got '${raw}'`);
  const n = Number(raw);
  if (n !== sizing.pm2Instances) {
    throw new Error(
      `PM2_INSTANCES=${n} but the '${environment}' sizing declares ${sizing.pm2Instances} workers per pod: ` +
        `rebuild the image with make image, or set BOLTLINK_SIZING to the environment it was built for`,
    );
  }
  return n;
}

module.exports = {
  apps: [
    {
      name: PM2_APP_NAME,
      script: path.join(__dirname, '../dist/service/src/main.js'),
      cwd: path.join(__dirname, '..'),
      exec_mode: 'cluster',
      instances: requireInstances(process.env.PM2_INSTANCES),
      node_args: nodeHeapArgs(sizing),
      max_memory_restart: `${sizing.maxMemoryRestartMiB}M`,
      // PM2 sends SIGINT, waits kill_timeout, then SIGKILLs; the worker's own deadline is inside it.
      kill_timeout: sizing.killTimeoutMs,
      // A reload replaces a worker only after the new one has reached PostgreSQL and Redis and listens.
      wait_ready: true,
      listen_timeout: sizing.startupTimeoutMs,
      // Logs go to PM2's stdout (pm2-runtime) and live to `pm2 logs`; no files fill a pod's disk.
      out_file: '/dev/null',
      error_file: '/dev/null',
      merge_logs: true,
      // No @pm2/io injection: it wraps the HTTP server to time every request (measured
      // here as a per-request cost on the redirect path); metrics are the service's own job.
      pmx: false,
      automation: false,
      autorestart: true,
      exp_backoff_restart_delay: 100,
      // A configuration error is not restarted: no restart can fix it (common/contract.ts).
      stop_exit_codes: [CONFIG_ERROR_EXIT_CODE],
      env: {
        BOLTLINK_SIZING: environment,
        PM2_INSTANCES: String(sizing.pm2Instances),
        DB_POOL_SIZE: String(sizing.dbPoolPerWorker),
        SHUTDOWN_DRAIN_MS: String(sizing.drainMs),
        SHUTDOWN_TIMEOUT_MS: String(sizing.shutdownTimeoutMs),
        HEALTH_TIMEOUT_MS: String(sizing.healthTimeoutMs),
        LOCAL_CACHE_MAX_MIB: String(sizing.localCacheMiBPerWorker),
      },
    },
  ],
};
