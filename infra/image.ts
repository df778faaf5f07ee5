/**
 * The contract between the image (Dockerfile) and the manifests that is not
 * sizing: who the process runs as and where it may write. The Dockerfile gets
 * these as build args from `npm run -s build-args` (infra/build-args.ts), the
 * chart imports them, so neither re-types a number.
 */

/** Numeric non-root uid/gid of the app user (≥ 10000: outside any host's system and login ranges). */
export const APP_UID = 10001;
export const APP_GID = 10001;
/** PM2's home and the service's temp files: the only writable path, an emptyDir in the pod. */
export const SCRATCH_DIR = '/tmp';
export const PM2_HOME = '/tmp/pm2';
/** The image's repository name; the tag defaults to v<package version>. */
export const IMAGE_REPOSITORY = 'boltlink-backend';
