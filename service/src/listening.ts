import { once } from 'node:events';
import type { Server } from 'node:net';
import { StartupError } from './errors';

/** Resolves once `server` listens; a port it cannot take is a StartupError naming `key`, not a stack trace. */
export async function listening(server: Server, key: string, port: number): Promise<void> {
  await once(server, 'listening').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EADDRINUSE') {
      throw new StartupError(
        `${key} ${port} is already in use: another process listens on it (stop it, or set ${key})`,
      );
    }
    if (err.code === 'EACCES')
      throw new StartupError(`${key} ${port} needs privileges this process lacks: use a port above 1023`);
    throw err;
  });
}
