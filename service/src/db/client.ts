import { PrismaPg } from '@prisma/adapter-pg';
import { Pool } from 'pg';
import type { Config } from '../config';
import { APP_NAME } from '../../../common/contract';
import { PrismaClient } from '../generated/prisma/client';
import { databaseUnreachable } from './unreachable';

export interface Database {
  readonly prisma: PrismaClient;
  /** The pg pool behind Prisma, kept for readiness pings and pool gauges. */
  readonly pool: Pool;
  close(): Promise<void>;
}

/** The client gives up this long after the server would have cancelled a statement: a hung server (frozen, partitioned) cannot hold a request forever. */
const CLIENT_TIMEOUT_MARGIN_MS = 500;

type DbConfig = Pick<Config, 'DATABASE_URL' | 'DB_POOL_SIZE' | 'DB_CONNECT_TIMEOUT_MS' | 'DB_STATEMENT_TIMEOUT_MS'>;

/**
 * One pg pool per worker, sized by DB_POOL_SIZE (derived from common/sizing.ts
 * so that every worker of every pod at max scale plus surge fits the
 * database's connection budget). A short connect timeout makes requests fail
 * fast with 503 instead of queueing while PostgreSQL is unreachable, and a
 * client-side query timeout bounds a request when PostgreSQL accepted the
 * connection but stopped answering.
 */
export function createDatabase(config: DbConfig): Database {
  const pool = new Pool({
    connectionString: config.DATABASE_URL,
    max: config.DB_POOL_SIZE,
    connectionTimeoutMillis: config.DB_CONNECT_TIMEOUT_MS,
    statement_timeout: config.DB_STATEMENT_TIMEOUT_MS,
    query_timeout: config.DB_STATEMENT_TIMEOUT_MS + CLIENT_TIMEOUT_MARGIN_MS,
    idleTimeoutMillis: 30_000,
    application_name: APP_NAME,
  });
  // An idle client losing its connection emits on the pool; without a
  // listener that would crash the worker during a database restart.
  pool.on('error', () => undefined);
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  return {
    prisma,
    pool,
    async close() {
      await prisma.$disconnect();
      await pool.end();
    },
  };
}

/** `SELECT 1` through the pool; rejects when PostgreSQL does not answer. */
export async function pingDatabase(db: Database): Promise<void> {
  await db.pool.query('SELECT 1');
}

/** The first ping at start-up; a failure names the key and the address in one line. */
export async function reachDatabase(db: Database, url: string): Promise<void> {
  await pingDatabase(db).catch((err: unknown) => {
    throw databaseUnreachable(url, err);
  });
}
