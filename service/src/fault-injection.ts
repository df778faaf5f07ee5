import { Router } from 'express';
import { BYTES_PER_MIB } from '../../common/contract';
import { AppError, ErrorCode } from './errors';
import type { Lifecycle } from './shutdown';

/** What the leak endpoint holds on to, so the memory stays resident until the worker is replaced. */
const leaked: Buffer[] = [];
const MAX_LEAK_MIB = 4096;
const MAX_FAULT_MS = 300_000;

function durationMs(raw: unknown): number {
  const ms = Number(raw);
  if (!Number.isInteger(ms) || ms < 1 || ms > MAX_FAULT_MS) {
    throw new AppError(ErrorCode.BadRequest, `ms must be a whole number from 1 to ${MAX_FAULT_MS}`);
  }
  return ms;
}

/**
 * Test-only routes, mounted when FAULT_INJECTION is on (refused in production
 * by config): the fault suite uses them to crash a worker, to push one over
 * PM2's max_memory_restart, and to learn which worker holds a connection; the
 * cluster test, to block a worker's event loop (liveness) and to fail its
 * readiness (endpoints).
 */
export function faultRoutes(lifecycle: Lifecycle): Router {
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
      throw new AppError(ErrorCode.BadRequest, `mib must be a whole number from 1 to ${MAX_LEAK_MIB}`);
    }
    // Filled, not just allocated: untouched pages would not count as resident memory.
    leaked.push(Buffer.alloc(mib * BYTES_PER_MIB, 1));
    res.status(202).json({ pid: process.pid, leakedMiB: leaked.reduce((n, b) => n + b.length, 0) / BYTES_PER_MIB });
  });
  router.post('/__fault/block', (req, res) => {
    const ms = durationMs(req.query.ms);
    res.status(202).json({ pid: process.pid, blockingMs: ms });
    // After the answer is written: a busy loop, as a runaway synchronous computation would.
    setImmediate(() => {
      const until = Date.now() + ms;
      while (Date.now() < until);
    });
  });
  router.post('/__fault/unready', (req, res) => {
    const ms = durationMs(req.query.ms);
    lifecycle.failReadinessFor(ms);
    res.status(202).json({ pid: process.pid, unreadyMs: ms });
  });
  return router;
}
