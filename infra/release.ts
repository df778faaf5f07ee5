import { version } from '../package.json';
import { IMAGE_REPOSITORY } from '../common/contract';

/**
 * The image a release runs: IMAGE (default boltlink-backend) and TAG
 * (default v<package version>, never `latest`). The chart, `make image` and
 * `make rollout` all take it from here.
 */
export function imageRef(env: NodeJS.ProcessEnv = process.env): string {
  return `${env.IMAGE || IMAGE_REPOSITORY}:${env.TAG || `v${version}`}`;
}
