/** Where the worker is in its life; readiness and the drain read it. */
export type Phase = 'starting' | 'serving' | 'draining';

export class Lifecycle {
  private current: Phase = 'starting';

  get phase(): Phase {
    return this.current;
  }

  serving(): void {
    this.current = 'serving';
  }

  /** From here on /ready answers 503 and every response carries `Connection: close`. */
  draining(): void {
    this.current = 'draining';
  }
}
