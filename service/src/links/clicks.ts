import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { PrismaClient } from '../generated/prisma/client';
import type { Logger } from '../logger';

const PENDING = 'clicks:pending';
const INFLIGHT = 'clicks:inflight';
const LOCK = 'clicks:lock';
const LOCK_TTL_MS = 30_000;
/** How long a worker sums its own clicks before one pipelined push to Redis: the clicks a SIGKILLed worker can lose. */
const PUSH_INTERVAL_MS = 100;

/** Moves PENDING into INFLIGHT (merging with a batch a failed flush left there) and returns INFLIGHT. */
const TAKE_BATCH = `
local src = redis.call('HGETALL', KEYS[1])
for i = 1, #src, 2 do redis.call('HINCRBY', KEYS[2], src[i], src[i + 1]) end
redis.call('DEL', KEYS[1])
return redis.call('HGETALL', KEYS[2])`;
const RELEASE_LOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * Counts clicks without a PostgreSQL write, or even a Redis command, per
 * redirect. A redirect adds one to this worker's tally; every
 * PUSH_INTERVAL_MS the tally goes to a Redis hash shared by all workers and
 * pods in one pipeline; a flusher (one at a time,
 * under a Redis lock) moves the hash into an in-flight batch and applies it
 * with one UPDATE. A batch stays in Redis until PostgreSQL has committed it,
 * so a database outage delays counts instead of losing them. When Redis
 * itself is down, clicks are buffered in this worker and written straight to
 * PostgreSQL. Delivery is at-least-once: a crash between the commit and the
 * batch's deletion would count that batch twice. A worker killed with
 * SIGKILL loses the clicks of its last PUSH_INTERVAL_MS; a graceful stop
 * loses none.
 */
export class ClickCounter {
  private readonly unpushed = new Map<string, number>();
  private readonly local = new Map<string, number>();
  private readonly lockToken = randomUUID();
  private timer: NodeJS.Timeout | undefined;
  private pushTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly prisma: PrismaClient,
    private readonly log: Logger,
  ) {}

  /** Hot path: a map increment; never awaited by the request, never throws. */
  record(slug: string): void {
    this.unpushed.set(slug, (this.unpushed.get(slug) ?? 0) + 1);
  }

  /** Clicks counted but not yet in PostgreSQL (Redis and this worker's buffers). */
  async unflushed(slug: string): Promise<number> {
    const local = (this.local.get(slug) ?? 0) + (this.unpushed.get(slug) ?? 0);
    const [pending, inflight] = await Promise.all([
      this.redis.hget(PENDING, slug).catch(() => null),
      this.redis.hget(INFLIGHT, slug).catch(() => null),
    ]);
    return local + Number(pending ?? 0) + Number(inflight ?? 0);
  }

  /** Flushes every `intervalMs`; a flush still running is never overlapped. */
  start(intervalMs: number): void {
    this.pushTimer = setInterval(() => void this.push(), PUSH_INTERVAL_MS);
    this.pushTimer.unref();
    this.timer = setInterval(() => {
      this.running ??= this.flush()
        .catch((err: unknown) => this.log.warn({ err }, 'click flush failed; will retry'))
        .finally(() => (this.running = undefined));
    }, intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and makes the final flush (shutdown: no click is lost). */
  async stop(): Promise<void> {
    clearInterval(this.pushTimer);
    clearInterval(this.timer);
    await this.running;
    await this.flush();
  }

  /** Writes buffered clicks to PostgreSQL. Safe to call concurrently from any worker. */
  async flush(): Promise<void> {
    await this.push();
    await this.flushLocal();
    await this.flushShared();
  }

  /** Moves this worker's tally to the shared hash; what Redis refuses is kept for PostgreSQL. */
  private async push(): Promise<void> {
    if (this.unpushed.size === 0) return;
    const batch = [...this.unpushed];
    this.unpushed.clear();
    const pipeline = this.redis.pipeline();
    for (const [slug, n] of batch) pipeline.hincrby(PENDING, slug, n);
    const results = await pipeline.exec().catch(() => null);
    batch.forEach(([slug, n], i) => {
      if (!results || results[i]?.[0]) this.bufferLocally(slug, n);
    });
  }

  private bufferLocally(slug: string, n: number): void {
    this.local.set(slug, (this.local.get(slug) ?? 0) + n);
  }

  private async flushLocal(): Promise<void> {
    if (this.local.size === 0) return;
    const batch = [...this.local];
    this.local.clear();
    try {
      await this.apply(batch);
    } catch (err) {
      for (const [slug, n] of batch) this.bufferLocally(slug, n);
      throw err;
    }
  }

  private async flushShared(): Promise<void> {
    const locked = await this.redis.set(LOCK, this.lockToken, 'PX', LOCK_TTL_MS, 'NX');
    if (locked !== 'OK') return;
    try {
      const flat = (await this.redis.eval(TAKE_BATCH, 2, PENDING, INFLIGHT)) as string[];
      if (flat.length === 0) return;
      const batch: [string, number][] = [];
      for (let i = 0; i < flat.length; i += 2) batch.push([flat[i]!, Number(flat[i + 1])]);
      await this.apply(batch);
      await this.redis.del(INFLIGHT);
      this.log.debug({ slugs: batch.length }, 'clicks flushed');
    } finally {
      await this.redis.eval(RELEASE_LOCK, 1, LOCK, this.lockToken).catch(() => undefined);
    }
  }

  private async apply(batch: readonly (readonly [string, number])[]): Promise<void> {
    const slugs = batch.map(([s]) => s);
    const counts = batch.map(([, n]) => n);
    await this.prisma.$executeRaw`
      UPDATE links AS l SET clicks = l.clicks + v.n
      FROM unnest(${slugs}::text[], ${counts}::bigint[]) AS v(slug, n)
      WHERE l.slug = v.slug`;
  }
}
