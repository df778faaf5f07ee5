import type { Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from './logger';

/**
 * The one home of a worker's life cycle: its phase (what /ready answers),
 * the drain that PM2 reloads and Kubernetes terminations go through, and the
 * signal wiring.
 */

/** Where the worker is in its life; readiness, the request gate and the drain read it. */
export type Phase = 'starting' | 'serving' | 'draining';

export class Lifecycle {
  private current: Phase = 'starting';
  private why = 'starting';
  private readonly connections = new Set<Socket>();
  private unreadyUntilMs = 0;

  get phase(): Phase {
    return this.current;
  }

  /** What /ready answers: serving, and no injected readiness failure running. */
  get ready(): boolean {
    return this.current === 'serving' && Date.now() >= this.unreadyUntilMs;
  }

  /** Why the worker is not ready (for /ready and the 503 it answers while starting). */
  get reason(): string {
    if (this.current === 'serving') return this.ready ? 'serving' : 'readiness failure injected';
    return this.current === 'draining' ? 'draining' : this.why;
  }

  /** Fault injection only (the cluster test): /ready answers 503 for `ms` while requests are still served. */
  failReadinessFor(ms: number): void {
    this.unreadyUntilMs = Date.now() + ms;
  }

  /** Still starting, for `reason` (e.g. the database schema is behind this release). */
  waiting(reason: string): void {
    this.why = reason;
  }

  serving(): void {
    this.current = 'serving';
  }

  /**
   * From here on /ready answers 503 and every response carries
   * `Connection: close` (requestContext adds it to new requests), including
   * those of requests already in flight whose headers are not sent yet: their
   * clients then reconnect elsewhere instead of reusing a socket this worker
   * is about to close.
   */
  draining(): void {
    this.current = 'draining';
    for (const socket of this.connections) {
      // The response a keep-alive connection is serving now (Node's own field; no public accessor).
      const res = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
      if (res && !res.headersSent) res.setHeader('Connection', 'close');
    }
  }

  /**
   * Tracks the server's connections (once per connection, not per request:
   * the redirect's hot path pays nothing for it).
   */
  trackConnections(server: Server): void {
    server.on('connection', (socket: Socket) => {
      this.connections.add(socket);
      socket.once('close', () => this.connections.delete(socket));
    });
  }
}

export interface DrainOptions {
  readonly lifecycle: Lifecycle;
  readonly server: Server;
  /** How long requests keep being answered (with Connection: close) before the server stops accepting. */
  readonly drainMs: number;
  /** After the last request: flush and close what the worker holds (clicks, pools, connections). */
  readonly release: () => Promise<void>;
  readonly log: Logger;
}

/**
 * Drains and closes; resolves when done (does not exit). Readiness turns 503
 * at once; requests arriving during the drain still succeed but carry
 * Connection: close, so keep-alive clients move to another worker or pod
 * before this one stops accepting.
 */
export async function drain(signal: string, o: DrainOptions): Promise<void> {
  o.log.info({ signal, drainMs: o.drainMs }, 'draining');
  o.lifecycle.draining();
  await new Promise((r) => setTimeout(r, o.drainMs));
  // close() stops accepting and drops idle keep-alive sockets; sockets that go idle
  // later (their last response already said Connection: close) are swept until done.
  const closed = new Promise<void>((resolve) => o.server.close(() => resolve()));
  const sweep = setInterval(() => o.server.closeIdleConnections(), 100);
  await closed;
  clearInterval(sweep);
  await o.release();
  o.log.info('shutdown complete');
}

/**
 * pm2 stops and reloads workers with SIGINT; Kubernetes and docker stop send
 * SIGTERM. Either starts `shutdown`; the process exits 0 when it is done, or 1
 * at `deadlineMs` (which sits inside PM2's kill_timeout).
 */
export function exitOnSignals(shutdown: (signal: string) => Promise<void>, deadlineMs: number, log: Logger): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      const force = setTimeout(() => {
        log.error({ timeoutMs: deadlineMs }, 'shutdown deadline passed; forcing exit');
        process.exit(1);
      }, deadlineMs);
      force.unref();
      void shutdown(signal).then(() => process.exit(0));
    });
  }
}
