import { StartupError } from '../errors';

/** `host:port/database` of a PostgreSQL URL, without its credentials: safe to print. */
export function databaseAddress(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || 5432}${u.pathname}`;
}

/**
 * The one line an operator needs when PostgreSQL cannot be reached at start-up
 * (the service, the migration command): the key, the address, pg's reason.
 */
export function databaseUnreachable(url: string, err: unknown): StartupError {
  const e = err as { message?: string; code?: string; errors?: { message?: string }[] };
  // Node reports "localhost" refusals as an AggregateError with an empty message (one error per address).
  const reason = e.message?.split('\n')[0] || e.errors?.[0]?.message || e.code || String(err);
  return new StartupError(`DATABASE_URL (${databaseAddress(url)}) is unreachable: ${reason}`);
}
