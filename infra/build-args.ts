import { parseArgs } from 'node:util';
import { APP_GID, APP_UID, DEFAULT_PORT, PM2_HOME, SCRATCH_DIR } from '../common/contract';
import { imageRef } from './release';
import { sizingFor } from '../common/sizing';

/**
 * `npx tsx infra/build-args.ts --env prod` prints the `docker build` arguments
 * for that environment: the worker count from common/sizing.ts, the app user,
 * and the tag. `--ref` prints only the image reference; `--compose-env` prints
 * the .env that docker-compose.pm2.yml reads (image, CPUs, memory, scratch and
 * stop grace from the same sizing). The Makefile's `image` and `rollout`
 * targets use it, so no number is typed in the Makefile or the compose file.
 */
try {
  // strict: an unknown or mistyped flag is an error, never silently the prod default.
  const { values } = parseArgs({
    options: {
      env: { type: 'string', default: 'prod' },
      ref: { type: 'boolean', default: false },
      'compose-env': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const environment = values.env;
  const ref = imageRef();
  if (values.ref) {
    process.stdout.write(`${ref}\n`);
  } else if (values['compose-env']) {
    const s = sizingFor(environment);
    const vars = {
      BOLTLINK_IMAGE: ref,
      BOLTLINK_CPUS: s.cpuLimitMilli / 1000,
      BOLTLINK_MEMORY: `${s.memoryLimitMiB}m`,
      BOLTLINK_SCRATCH: `${s.scratchMiB}m`,
      BOLTLINK_STOP_GRACE: `${s.terminationGracePeriodSeconds}s`,
      BOLTLINK_PORT: DEFAULT_PORT,
    };
    const lines = Object.entries(vars).map(([k, v]) => `${k}=${v}`);
    process.stdout.write(
      `# written by make image from common/sizing.ts (${environment}); do not edit\n${lines.join('\n')}\n`,
    );
  } else {
    const s = sizingFor(environment);
    const version = ref.slice(ref.lastIndexOf(':') + 1);
    const args = {
      WORKERS: s.pm2Instances,
      SIZING_ENV: environment,
      APP_UID,
      APP_GID,
      APP_PORT: DEFAULT_PORT,
      SCRATCH_DIR,
      PM2_HOME,
      VERSION: version,
    };
    const flags = Object.entries(args).map(([k, v]) => `--build-arg ${k}=${v}`);
    process.stdout.write(`${[...flags, '-t', ref].join(' ')}\n`);
  }
} catch (err) {
  process.stderr.write(`build-args: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
