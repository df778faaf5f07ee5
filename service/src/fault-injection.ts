import { Router } from 'express';
import { AppError, ErrorCode } from './errors';

/** What the leak endpoint holds on to, so the memory stays resident until the worker is replaced. */
const leaked: Buffer[] = [];
const MAX_LEAK_MIB = 4096;

/**
 * Test-only routes, mounted when FAULT_INJECTION is on (refused in production
 * by config): the fault suite uses them to crash a worker, to push one over
 * PM2's max_memory_restart, and to learn which worker holds a connection.
 */
export function faultRoutes(): Router {
  const router = Router();
  router.get('/__fault/whoami', (_req, res) => {
    res.json({ pid: process.pid });
  });
  router.post('/__fault/crash', (_req, res) => {
    res.status(202).json({ crashing: process.pid });
    setImmediate(() => {
      throw new Error('fault injection: crash requested');
    });
  });
  router.post('/__fault/leak', (req, res) => {
    const mib = Number(req.query.mib);
    if (!Number.isInteger(mib) || mib < 1 || mib > MAX_LEAK_MIB) {
      throw new AppError(400, ErrorCode.BadRequest, `mib must be a whole number from 1 to ${MAX_LEAK_MIB}`);
    }
    // Filled, not just allocated: untouched pages would not count as resident memory.
    leaked.push(Buffer.alloc(mib * 1024 * 1024, 1));
    res.status(202).json({ pid: process.pid, leakedMiB: leaked.reduce((n, b) => n + b.length, 0) / 1024 / 1024 });
  });
  return router;
}
