import type { ServerResponse } from 'node:http';

/** Where the worker is in its life; readiness and the drain read it. */
export type Phase = 'starting' | 'serving' | 'draining';

export class Lifecycle {
  private current: Phase = 'starting';
  private readonly inFlight = new Set<ServerResponse>();

  get phase(): Phase {
    return this.current;
  }

  serving(): void {
    this.current = 'serving';
  }

  /**
   * From here on /ready answers 503 and every response carries
   * `Connection: close`, including those of requests already in flight whose
   * headers are not sent yet: their clients then reconnect elsewhere instead
   * of reusing a socket this worker is about to close.
   */
  draining(): void {
    this.current = 'draining';
    for (const res of this.inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
  }

  /** Tracks `res` until it finishes; call once per request. */
  track(res: ServerResponse): void {
    if (this.current === 'draining') res.setHeader('Connection', 'close');
    this.inFlight.add(res);
    res.once('close', () => this.inFlight.delete(res));
  }
}
