import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseSql } from 'libpg-query';
import { Client, DatabaseError } from 'pg';
import { StartupError } from '../errors';
import { databaseUnreachable } from './unreachable';

/**
 * Applies pending migrations from service/prisma/migrations and records them
 * in `_prisma_migrations` the way `prisma migrate deploy` does (same table,
 * same advisory lock, sha256 checksum of migration.sql), so the Prisma CLI on a
 * connected machine sees the same history. The Prisma CLI itself cannot run
 * here: it downloads a native schema engine at run time.
 *
 * Written for tables of millions of rows: every DDL statement waits at most
 * `lockTimeoutMs` for its table's lock and then retries, so the service's own
 * queries never queue behind a migration waiting for a lock; the whole run
 * has a budget (the sizing's migrationBudgetSeconds), and a statement still
 * running at its end is cancelled. A migration whose first line is
 * `-- boltlink: no-transaction` runs statement by statement outside a
 * transaction (CREATE INDEX CONCURRENTLY, batched backfills that COMMIT as
 * they go); it must be safe to run again, and the migrator reports by name
 * the invalid index a failed concurrent build leaves, and drops it before the
 * next attempt rebuilds it.
 */

/** service/prisma/migrations; `npm run build` copies it beside the compiled code, so dist/ runs on its own. */
export const MIGRATIONS_DIR = path.resolve(__dirname, '../../prisma/migrations');

/** The key Prisma Migrate takes with pg_advisory_lock, so we never run beside it. */
const PRISMA_ADVISORY_LOCK_KEY = 72707369;
/** The first line that makes a migration run outside a transaction. */
export const NO_TRANSACTION_MARKER = '-- boltlink: no-transaction';
/** How long a migrator waits between two attempts at a lock it could not get within lock_timeout, ms. */
const LOCK_RETRY_MS = 1_000;
/** How often a migrator that waits for another one's advisory lock asks again, ms. */
const ADVISORY_POLL_MS = 500;

const CREATE_TABLE = `
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

export interface Migration {
  readonly name: string;
  readonly sql: string;
  readonly checksum: string;
  /** Marked with NO_TRANSACTION_MARKER: applied statement by statement, outside a transaction. */
  readonly transactional: boolean;
}

export interface MigrateOptions {
  /** @default MIGRATIONS_DIR */
  readonly dir?: string;
  /** Longest the whole run may take, ms: a statement still running then is cancelled. @default 600,000 */
  readonly budgetMs?: number;
  /** Longest one statement waits for a table's lock before it gives up and retries (lock_timeout), ms. @default 2,000 */
  readonly lockTimeoutMs?: number;
  /**
   * When another migrator holds the lock: wait for it (an operator's `npm run
   * db:migrate`), or leave at once (a pod of a release: another pod applies
   * the release's migrations, and this one's workers wait for the schema).
   * @default 'wait'
   */
  readonly whenLocked?: 'wait' | 'skip';
  /** Progress lines (a no-transaction statement done, a lock waited for, an invalid index dropped). @default none */
  readonly log?: (line: string) => void;
}

export interface MigrateResult {
  readonly applied: readonly string[];
  readonly alreadyApplied: readonly string[];
  /** Set when another migrator held the lock and whenLocked was 'skip'. */
  readonly skipped?: 'locked';
}

/** The migrations this release ships, oldest first. */
export async function migrationNames(dir = MIGRATIONS_DIR): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
    throw new StartupError(
      `no migrations at ${dir}: run npm run build (it copies service/prisma beside the compiled code)`,
    );
  });
  return entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

export async function readMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const names = await migrationNames(dir);
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(path.join(dir, name, 'migration.sql'), 'utf8');
      return {
        name,
        sql,
        checksum: createHash('sha256').update(sql).digest('hex'),
        transactional: sql.split('\n', 1)[0]!.trim() !== NO_TRANSACTION_MARKER,
      };
    }),
  );
}

/** The migration's statements as PostgreSQL's own parser splits them (libpg-query), each with what it creates. */
async function statementsOf(m: Migration): Promise<{ sql: string; index?: string }[]> {
  const tree = (await parseSql(m.sql)) as {
    stmts: { stmt: { IndexStmt?: { idxname?: string } }; stmt_location?: number; stmt_len?: number }[];
  };
  return tree.stmts.map((s) => {
    const from = s.stmt_location ?? 0;
    const sql = s.stmt_len ? m.sql.slice(from, from + s.stmt_len) : m.sql.slice(from);
    return { sql, index: s.stmt.IndexStmt?.idxname };
  });
}

/**
 * Applies each pending migration, within the budget. A transactional migration
 * that failed earlier (finished_at NULL, not rolled back) or any migration whose
 * file changed after it was applied stops the run with an error that names it,
 * as Prisma does; a non-transactional one that failed earlier is run again.
 */
export async function migrate(
  databaseUrl: string,
  dir = MIGRATIONS_DIR,
  options: MigrateOptions = {},
): Promise<MigrateResult> {
  const o = { budgetMs: 600_000, lockTimeoutMs: 2_000, whenLocked: 'wait' as const, log: () => undefined, ...options };
  const deadline = Date.now() + o.budgetMs;
  const migrations = await readMigrations(options.dir ?? dir);
  const client = new Client({ connectionString: databaseUrl, application_name: 'boltlink-migrate' });
  client.on('error', () => undefined);
  await client.connect().catch((err: unknown) => {
    throw databaseUnreachable(databaseUrl, err);
  });
  let locked = false;
  try {
    locked = await advisoryLock(client, o.whenLocked, deadline);
    if (!locked) return { applied: [], alreadyApplied: [], skipped: 'locked' };
    await client.query(CREATE_TABLE);
    const { rows } = await client.query<{ migration_name: string; checksum: string; finished_at: Date | null }>(
      'SELECT migration_name, checksum, finished_at FROM "_prisma_migrations" WHERE rolled_back_at IS NULL',
    );
    const recorded = new Map(rows.map((r) => [r.migration_name, r]));
    const applied: string[] = [];
    const alreadyApplied: string[] = [];
    const run = { client, deadline, lockTimeoutMs: o.lockTimeoutMs, budgetMs: o.budgetMs, log: o.log };
    for (const m of migrations) {
      const row = recorded.get(m.name);
      if (row && row.checksum !== m.checksum) {
        throw new Error(
          `migration ${m.name} was modified after it was applied (checksum ${row.checksum} != ${m.checksum})`,
        );
      }
      if (row?.finished_at) {
        alreadyApplied.push(m.name);
        continue;
      }
      if (row && m.transactional) {
        throw new Error(
          `migration ${m.name} failed earlier and was not rolled back; resolve it before migrating again`,
        );
      }
      await (m.transactional ? applyInTransaction(run, m) : applyStatementByStatement(run, m, row !== undefined));
      applied.push(m.name);
    }
    return { applied, alreadyApplied };
  } finally {
    if (locked) await client.query('SELECT pg_advisory_unlock($1)', [PRISMA_ADVISORY_LOCK_KEY]).catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}

/** Takes the migrators' advisory lock: waiting for it (until the deadline) or not at all. */
async function advisoryLock(client: Client, whenLocked: 'wait' | 'skip', deadline: number): Promise<boolean> {
  for (;;) {
    const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [
      PRISMA_ADVISORY_LOCK_KEY,
    ]);
    if (rows[0]!.ok) return true;
    if (whenLocked === 'skip') return false;
    if (Date.now() >= deadline) throw new Error('another migrator held the migration lock for the whole budget');
    await sleep(ADVISORY_POLL_MS);
  }
}

interface Run {
  readonly client: Client;
  readonly deadline: number;
  readonly lockTimeoutMs: number;
  readonly budgetMs: number;
  readonly log: (line: string) => void;
}

/** The statement timeout left of the budget, ms; throws once it is spent. */
function remaining(run: Run, m: Migration): number {
  const left = run.deadline - Date.now();
  if (left <= 0) throw budgetSpent(run, m);
  return left;
}

const budgetSpent = (run: Run, m: Migration) =>
  new Error(
    `migration ${m.name} exceeded its budget (${Math.round(run.budgetMs / 1000)} s, the sizing's migrationBudgetSeconds) and was cancelled`,
  );

/** The statement timed out at the budget's end (not a lock wait: lock_timeout is 55P03). */
const cancelled = (err: unknown) => err instanceof DatabaseError && err.code === '57014';
const lockNotAvailable = (err: unknown) => err instanceof DatabaseError && err.code === '55P03';

/** One migration in one transaction; a lock it cannot get within lock_timeout rolls it back and it tries again. */
async function applyInTransaction(run: Run, m: Migration): Promise<void> {
  const { client } = run;
  for (let attempt = 1; ; attempt++) {
    const id = randomUUID();
    await client.query('BEGIN');
    try {
      await client.query(`SET LOCAL lock_timeout = ${run.lockTimeoutMs}`);
      await client.query(`SET LOCAL statement_timeout = ${remaining(run, m)}`);
      await client.query(
        'INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at) VALUES ($1, $2, $3, now())',
        [id, m.checksum, m.name],
      );
      await client.query(m.sql);
      await client.query(
        'UPDATE "_prisma_migrations" SET finished_at = clock_timestamp(), applied_steps_count = 1 WHERE id = $1',
        [id],
      );
      await client.query('COMMIT');
      return;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      if (lockNotAvailable(err) && Date.now() + LOCK_RETRY_MS < run.deadline) {
        run.log(
          `migration ${m.name}: a table's lock not free within ${run.lockTimeoutMs} ms (attempt ${attempt}); retrying`,
        );
        await sleep(LOCK_RETRY_MS);
        continue;
      }
      if (cancelled(err) || lockNotAvailable(err)) throw budgetSpent(run, m);
      throw new Error(`migration ${m.name} failed and was rolled back: ${(err as Error).message}`);
    }
  }
}

/**
 * A no-transaction migration, statement by statement, each under lock_timeout
 * (retried when the lock is not free) and the budget. Invalid indexes that a
 * failed earlier attempt left under a name this migration creates are dropped
 * first; a failure reports the invalid indexes it leaves, by name.
 */
async function applyStatementByStatement(run: Run, m: Migration, retried: boolean): Promise<void> {
  const { client } = run;
  const statements = await statementsOf(m);
  if (!retried) {
    await client.query(
      'INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at) VALUES ($1, $2, $3, now())',
      [randomUUID(), m.checksum, m.name],
    );
  }
  const ours = statements.map((s) => s.index).filter((i): i is string => i !== undefined);
  for (const index of await invalidIndexes(client, ours)) {
    run.log(`migration ${m.name}: dropping the invalid index ${index} an earlier attempt left, to build it again`);
    await client.query(`DROP INDEX CONCURRENTLY IF EXISTS "${index}"`);
  }
  for (const [i, statement] of statements.entries()) {
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        await client.query(`SET lock_timeout = ${run.lockTimeoutMs}`);
        await client.query(`SET statement_timeout = ${remaining(run, m)}`);
        await client.query(statement.sql);
        run.log(`migration ${m.name}: statement ${i + 1} of ${statements.length} done in ${Date.now() - started} ms`);
        break;
      } catch (err) {
        if (lockNotAvailable(err) && Date.now() + LOCK_RETRY_MS < run.deadline) {
          run.log(
            `migration ${m.name}, statement ${i + 1}: a table's lock not free within ${run.lockTimeoutMs} ms (attempt ${attempt}); retrying`,
          );
          await sleep(LOCK_RETRY_MS);
          continue;
        }
        const left = await invalidIndexes(client, ours).catch(() => []);
        const invalid =
          left.length > 0
            ? `; it left invalid index(es) ${left.join(', ')}, dropped and rebuilt when it runs again`
            : '';
        await client
          .query('UPDATE "_prisma_migrations" SET logs = $2 WHERE migration_name = $1 AND finished_at IS NULL', [
            m.name,
            String((err as Error).message),
          ])
          .catch(() => undefined);
        const reason =
          cancelled(err) || lockNotAvailable(err)
            ? budgetSpent(run, m).message
            : `failed at statement ${i + 1} of ${statements.length}: ${(err as Error).message}`;
        throw new Error(
          `${reason.startsWith('migration') ? reason : `migration ${m.name} ${reason}`} (no transaction: statements before it stay applied; it is safe to run again)${invalid}`,
        );
      } finally {
        await client.query('RESET lock_timeout; RESET statement_timeout').catch(() => undefined);
      }
    }
  }
  await client.query(
    'UPDATE "_prisma_migrations" SET finished_at = clock_timestamp(), applied_steps_count = $2, logs = NULL WHERE migration_name = $1 AND finished_at IS NULL',
    [m.name, statements.length],
  );
}

/** Of `names`, the indexes PostgreSQL holds as invalid (a concurrent build that failed or was cancelled). */
async function invalidIndexes(client: Client, names: readonly string[]): Promise<string[]> {
  if (names.length === 0) return [];
  const { rows } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
     WHERE NOT i.indisvalid AND c.relname = ANY($1) AND c.relnamespace = current_schema()::regnamespace`,
    [names],
  );
  return rows.map((r) => r.name);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
