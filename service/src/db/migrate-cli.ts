import { parseArgs } from 'node:util';
import { loadMigrateConfig } from '../config';
import { createLogger } from '../logger';
import { migrate, MIGRATIONS_DIR } from './migrate';

/**
 * `npm run db:migrate`: waits for another migrator if one runs, then applies
 * what is pending. In the image, service/bin/migrate-then-serve.sh runs it with
 * `--skip-if-locked` before pm2-runtime: the first pod of a release applies the
 * release's migrations; the others, and the pods an HPA scale-out starts
 * meanwhile, find the lock taken, start at once and wait for the schema.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'skip-if-locked': { type: 'boolean', default: false } }, strict: true });
  const config = loadMigrateConfig();
  const log = createLogger(config);
  const started = Date.now();
  const result = await migrate(config.DATABASE_URL, MIGRATIONS_DIR, {
    budgetMs: config.MIGRATION_BUDGET_SECONDS * 1000,
    lockTimeoutMs: config.MIGRATION_LOCK_TIMEOUT_MS,
    whenLocked: values['skip-if-locked'] ? 'skip' : 'wait',
    log: (line) => log.info(line),
  });
  if (result.skipped) {
    log.info('another pod is applying the migrations: this one starts and waits for the schema');
    return;
  }
  log.info(
    { applied: result.applied, alreadyApplied: result.alreadyApplied.length, ms: Date.now() - started },
    'migrations up to date',
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`db:migrate failed: ${(err as Error).message}\n`);
  process.exit(1);
});
