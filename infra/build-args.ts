import { DEFAULT_PORT } from '../service/src/config';
import { APP_GID, APP_UID } from './image';
import { imageRef } from './release';
import { sizingFor } from './sizing';

/**
 * `npx tsx infra/build-args.ts --env prod` prints the `docker build` arguments
 * for that environment: the worker count from infra/sizing.ts, the app user,
 * and the tag. `--ref` prints only the image reference. The Makefile's `image`
 * and `rollout` targets use it, so no number is typed in the Makefile.
 */
const argv = process.argv.slice(2);
const envAt = argv.indexOf('--env');
const environment = envAt >= 0 ? (argv[envAt + 1] ?? '') : 'prod';
try {
  const ref = imageRef();
  if (argv.includes('--ref')) {
    process.stdout.write(`${ref}\n`);
  } else {
    const s = sizingFor(environment);
    const version = ref.slice(ref.lastIndexOf(':') + 1);
    const args = {
      WORKERS: s.pm2Instances,
      SIZING_ENV: environment,
      APP_UID,
      APP_GID,
      APP_PORT: DEFAULT_PORT,
      VERSION: version,
    };
    const flags = Object.entries(args).map(([k, v]) => `--build-arg ${k}=${v}`);
    process.stdout.write(`${[...flags, '-t', ref].join(' ')}\n`);
  }
} catch (err) {
  process.stderr.write(`build-args: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
