import { execFileSync } from 'node:child_process';
import scratchDatabase from './integration';

/**
 * The process project's global setup (and the fault and cluster suites'):
 * the scratch database, then the same build as `npm run build` (migrations
 * copied beside the compiled code, which reads them): these tests run the
 * built service as real processes.
 */
export default async function scratchDatabaseAndBuild(): Promise<void> {
  await scratchDatabase();
  execFileSync('npm', ['run', '-s', 'build'], { stdio: 'inherit' });
}
