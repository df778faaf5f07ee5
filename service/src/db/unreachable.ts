import { StartupError } from '../errors';

/** `host:port/database` of a PostgreSQL URL, without its credentials: safe to print. */
export function databaseAddress(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || 5432}${u.pathname}`;
}

/**
 * Why PostgreSQL refused or could not be reached, from pg's error: an
 * authentication failure is not an unreachable server, and an operator fixes
 * the two in different places (the Secret's password, or the network).
 */
function reasonOf(url: string, err: unknown): string {
  const e = err as { message?: string; code?: string; errors?: { message?: string }[] };
  const user = decodeURIComponent(new URL(url).username) || 'the default user';
  // pg's SCRAM exchange throws this when the URL has no password and the server asks for one.
  if (/client password must be a string/.test(e.message ?? '')) {
    return `asks for a password and the URL has none: put it in the URL (postgresql://${user}:<password>@…)`;
  }
  if (e.code === '28P01') return `refused the password for user ${user}`;
  if (e.code === '28000') return `refused user ${user} (pg_hba.conf has no entry for this client and user)`;
  if (e.code === '3D000') return `has no such database: ${e.message}`;
  // Node reports "localhost" refusals as an AggregateError with an empty message (one error per address).
  return `is unreachable: ${e.message?.split('\n')[0] || e.errors?.[0]?.message || e.code || String(err)}`;
}

/**
 * The one line an operator needs when PostgreSQL cannot be used at start-up
 * (the service, the migration command, the test suites' setup): the key, the
 * address, what went wrong.
 */
export function databaseUnreachable(url: string, err: unknown): StartupError {
  return new StartupError(`DATABASE_URL (${databaseAddress(url)}) ${reasonOf(url, err)}`);
}
