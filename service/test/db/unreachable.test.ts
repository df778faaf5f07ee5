import { Client } from 'pg';
import { databaseUnreachable } from '../../src/db/unreachable';
import { startPrivatePostgres } from '../../../test-support/faults';
import { freePort } from '../../../test-support/service';

/** What pg raises for `url`, as the service's start-up, the migrator and the test setup report it. */
async function reported(url: string): Promise<string> {
  const c = new Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await c.connect();
    return 'connected';
  } catch (err) {
    return databaseUnreachable(url, err).message;
  } finally {
    await c.end().catch(() => undefined);
  }
}

describe('DATABASE_URL when PostgreSQL cannot be used', () => {
  it('tells an unreachable server from refused credentials and a missing database, naming the key', async () => {
    const pg = await startPrivatePostgres({ password: 'secret' });
    try {
      const at = `127.0.0.1:${pg.port}`;
      expect(await reported(`postgresql://postgres@${at}/postgres`)).toBe(
        `DATABASE_URL (${at}/postgres) asks for a password and the URL has none: put it in the URL (postgresql://postgres:<password>@…)`,
      );
      expect(await reported(`postgresql://postgres:wrong@${at}/postgres`)).toBe(
        `DATABASE_URL (${at}/postgres) refused the password for user postgres`,
      );
      expect(await reported(`postgresql://postgres:secret@${at}/postgres`)).toBe('connected');
      expect(await reported(`postgresql://postgres:secret@${at}/nope`)).toBe(
        `DATABASE_URL (${at}/nope) has no such database: database "nope" does not exist`,
      );
      const closed = await freePort();
      expect(await reported(`postgresql://postgres:secret@127.0.0.1:${closed}/postgres`)).toBe(
        `DATABASE_URL (127.0.0.1:${closed}/postgres) is unreachable: connect ECONNREFUSED 127.0.0.1:${closed}`,
      );
    } finally {
      await pg.destroy();
    }
  });
});
