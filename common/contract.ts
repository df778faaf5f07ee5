/**
 * The contract between the service, its image, its manifests and the load
 * tools that is not sizing: its names, its ports, who its process runs as,
 * where it may write, and units. Service, infra and loadtest import these
 * (this floor, common/, imports neither); the Dockerfile gets them as build
 * args (infra/build-args.ts). Nothing re-types them.
 */

/**
 * The name the operations guide uses (`kubectl set image
 * deployment/boltlink-backend backend=boltlink-backend:v1.1`): the image's
 * repository, the Deployment, and the service's PostgreSQL application_name.
 */
export const APP_NAME = 'boltlink-backend';
/** The image's repository; the tag defaults to v<package version>. */
export const IMAGE_REPOSITORY = APP_NAME;
/** The PM2 app (service/ecosystem.config.js): `pm2 reload|logs boltlink-api`, the workers' name in `pm2 status`. */
export const PM2_APP_NAME = 'boltlink-api';

/** The port the service listens on unless PORT says otherwise; the chart's containerPort and probes use it. */
export const DEFAULT_PORT = 5000;
/** The metrics port unless METRICS_PORT says otherwise (the chart's scrape port). */
export const DEFAULT_METRICS_PORT = 9464;

/** Numeric non-root uid/gid of the app user (≥ 10000: outside any host's system and login ranges). */
export const APP_UID = 10001;
export const APP_GID = 10001;
/** PM2's home and the service's temp files: the only writable path, an emptyDir in the pod. */
export const SCRATCH_DIR = '/tmp';
export const PM2_HOME = '/tmp/pm2';

/**
 * A worker's exit code for a configuration it cannot run with (sysexits'
 * EX_CONFIG). PM2 does not restart a worker that exits with it (the
 * ecosystem's stop_exit_codes): a restart cannot fix a missing key, and
 * pm2-runtime, the container's entrypoint, then exits with nothing online, so
 * the container shows the error once per worker instead of a restart loop.
 */
export const CONFIG_ERROR_EXIT_CODE = 78;

/** Bytes in a MiB: the sizing counts in MiB; V8, the kernel and Prometheus in bytes. */
export const BYTES_PER_MIB = 1024 * 1024;
/** What a migration budget may be, seconds: the sizing's migrationBudgetSeconds and MIGRATION_BUDGET_SECONDS. */
export const MIGRATION_BUDGET_RANGE_SECONDS = { min: 10, max: 6 * 3600 } as const;
