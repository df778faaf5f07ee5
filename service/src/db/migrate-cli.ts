import { loadMigrateConfig } from '../config';
import { createLogger } from '../logger';
import { migrate } from './migrate';

/** `npm run db:migrate`; in the image, service/bin/migrate-then-serve.sh runs it before pm2-runtime. */
async function main(): Promise<void> {
  const config = loadMigrateConfig();
  const log = createLogger(config);
  const result = await migrate(config.DATABASE_URL);
  log.info({ applied: result.applied, alreadyApplied: result.alreadyApplied.length }, 'migrations up to date');
}

main().catch((err: unknown) => {
  process.stderr.write(`db:migrate failed: ${(err as Error).message}\n`);
  process.exit(1);
});
