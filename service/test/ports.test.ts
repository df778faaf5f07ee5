import net from 'node:net';
import { once } from 'node:events';
import { StartupError } from '../src/errors';
import { freePort, startService } from '../../test-support/service';

/** A port another process holds: start-up says which key and what to do, in one line, instead of a stack trace. */
describe('a port already in use', () => {
  let holder: net.Server;
  let taken: number;
  beforeAll(async () => {
    taken = await freePort();
    holder = net.createServer().listen(taken);
    await once(holder, 'listening');
  });
  afterAll(() => new Promise((r) => holder.close(r)));

  it.each(['PORT', 'METRICS_PORT'])('%s: a StartupError naming the key and the port', async (key) => {
    const other = key === 'PORT' ? 'METRICS_PORT' : 'PORT';
    const starting = startService({ [key]: String(taken), [other]: String(await freePort()) });
    await expect(starting).rejects.toThrow(StartupError);
    await expect(starting).rejects.toThrow(
      `${key} ${taken} is already in use: another process listens on it (stop it, or set ${key})`,
    );
  });
});
