import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { PrismaClient } from '../generated/prisma/client';
import type { Logger } from '../logger';

const PENDING = 'clicks:pending';
const INFLIGHT = 'clicks:inflight';
const INFLIGHT_ID = 'clicks:inflight:id';
const LOCK = 'clicks:lock';
const LOCK_TTL_MS = 30_000;
/** How long a worker sums its own clicks before one pipelined push to Redis: the clicks a SIGKILLed worker can lose. */
const PUSH_INTERVAL_MS = 100;

/**
 * Returns {id, INFLIGHT as a JSON object of slug → count}: the batch a failed
 * flush left, unchanged and with its id, or else PENDING moved into INFLIGHT
 * under the new id ARGV[1]. A batch never changes once it has an id, so a
 * retry is the same batch. JSON, not HGETALL's reply: under a long tail a
 * batch holds tens of thousands of slugs, and the worker passes the text to
 * PostgreSQL as it is instead of parsing that many strings (measured: a
 * 50 ms stall of the worker's event loop every flush).
 */
const TAKE_BATCH = `
if redis.call('EXISTS', KEYS[2]) == 0 then
  if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
  redis.call('RENAME', KEYS[1], KEYS[2])
  redis.call('SET', KEYS[3], ARGV[1])
end
local id = redis.call('GET', KEYS[3])
if not id then
  id = ARGV[1]
  redis.call('SET', KEYS[3], id)
end
local flat = redis.call('HGETALL', KEYS[2])
local counts = {}
for i = 1, #flat, 2 do counts[flat[i]] = flat[i + 1] end
return {id, cjson.encode(counts)}`;
/**
 * How long a stopping worker keeps trying when no deadline is given (the
 * server gives its own shutdown deadline). A flush holds the lock for one
 * UPDATE (milliseconds); one held longer belongs to a stuck or dead flusher,
 * and the clicks wait in Redis.
 */
const FINAL_FLUSH_WAIT_MS = 500;
const FINAL_FLUSH_RETRY_MS = 20;
/** How long applied batch ids are remembered: far beyond any retry of a batch still in Redis. */
const BATCH_ID_RETENTION_DAYS = 7;

interface LocalBatch {
  readonly id: string;
  readonly counts: ReadonlyMap<string, number>;
}

/**
 * Adds a worker's tally (ARGV[1], a JSON object of slug → count) to the shared
 * hash. One command and one argument however many slugs: under a long tail of
 * links a push carries thousands, and a pipeline of one HINCRBY each built
 * thousands of ioredis commands at once (tens of milliseconds of the worker's
 * time every push).
 */
const PUSH_TALLY = `for slug, n in pairs(cjson.decode(ARGV[1])) do redis.call('HINCRBY', KEYS[1], slug, n) end return 0`;

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
 * PostgreSQL. Every batch has an id, recorded in click_batches by the same
 * statement that adds its counts, so a batch applied twice — a retry after a
 * timeout whose first attempt did commit (a hung PostgreSQL), or after a
 * crash before the batch was deleted from Redis — counts once. A worker
 * killed with SIGKILL loses the clicks of its last PUSH_INTERVAL_MS; a
 * graceful stop loses none.
 */
export class ClickCounter {
  private readonly unpushed = new Map<string, number>();
  private readonly local = new Map<string, number>();
  /** A batch of `local` that PostgreSQL did not confirm: retried as it is, under the same id. */
  private localBatch: LocalBatch | undefined;
  private readonly lockToken = randomUUID();
  private timer: NodeJS.Timeout | undefined;
  private pushTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** Whether the last push reached Redis. */
  private redisUp = true;

  constructor(
    private readonly redis: Redis,
    private readonly prisma: PrismaClient,
    private readonly log: Logger,
    /** REDIS_URL's address without credentials, for the log. */
    private readonly redisAddress: string,
  ) {}

  /** Hot path: a map increment; never awaited by the request, never throws. */
  record(slug: string): void {
    this.unpushed.set(slug, (this.unpushed.get(slug) ?? 0) + 1);
  }

  /** Clicks counted but not yet in PostgreSQL (Redis and this worker's buffers). */
  async unflushed(slug: string): Promise<number> {
    const retrying = this.localBatch?.counts.get(slug) ?? 0;
    const local = (this.local.get(slug) ?? 0) + (this.unpushed.get(slug) ?? 0) + retrying;
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
        .catch((err: unknown) =>
          this.log.warn({ err }, 'click flush failed; the clicks stay where they are and are retried'),
        )
        .finally(() => (this.running = undefined));
    }, intervalMs);
    this.timer.unref();
  }

  /**
   * Stops the timers and makes the final flush (shutdown: no click is lost),
   * retrying whatever fails until `untilMs` (the worker's own shutdown
   * deadline): under load a Redis or PostgreSQL command can time out once and
   * answer the next time. Once pushed, this worker's clicks are in the shared
   * hash; another worker stopping at the same moment may hold the lock with a
   * batch taken just before they arrived. Waiting for it brings them to
   * PostgreSQL now, instead of leaving them in Redis until some worker flushes
   * again: for the last pod of a release, its next start. Logs one line
   * saying where this worker's clicks went; never throws.
   */
  async stop(untilMs = Date.now() + FINAL_FLUSH_WAIT_MS): Promise<void> {
    clearInterval(this.pushTimer);
    clearInterval(this.timer);
    await this.running;
    const pushed = await this.push();
    const direct = this.local.size > 0 || this.localBatch ? await this.retry(untilMs, () => this.flushLocal()) : 0;
    const shared = pushed > 0 || this.redisUp ? await this.finalSharedFlush(untilMs) : 'unreachable';
    const where = {
      clicksToPostgresDirectly: direct === 'failed' ? 0 : direct,
      clicksPushedToRedis: pushed,
      sharedBatch: shared,
    };
    if (direct === 'failed') {
      const lost = [...this.local.values(), ...(this.localBatch?.counts.values() ?? [])].reduce((a, b) => a + b, 0);
      this.log.error(
        { ...where, clicksLost: lost },
        `${lost} clicks lost: Redis refused them and PostgreSQL could not be written before the shutdown deadline`,
      );
    } else if (shared === 'flushed' || shared === 'unreachable') {
      this.log.info(
        where,
        shared === 'flushed'
          ? 'clicks flushed to PostgreSQL'
          : `clicks written to PostgreSQL directly: Redis at REDIS_URL (${this.redisAddress}) is unreachable`,
      );
    } else {
      this.log.warn(
        where,
        `clicks left in Redis for the next flush (${shared === 'locked' ? 'another flush held the lock' : 'PostgreSQL or Redis did not answer'} until the shutdown deadline)`,
      );
    }
  }

  /** Writes buffered clicks to PostgreSQL. Safe to call concurrently from any worker. */
  async flush(): Promise<void> {
    await this.push();
    await this.flushLocal();
    // While Redis refuses pushes the clicks go straight to PostgreSQL (above); nothing to take from Redis.
    if (this.redisUp) await this.flushShared();
  }

  /** `run` until it succeeds or `untilMs` passes, a little apart; its result, or 'failed'. */
  private async retry<T>(untilMs: number, run: () => Promise<T>): Promise<T | 'failed'> {
    for (;;) {
      try {
        return await run();
      } catch {
        if (Date.now() >= untilMs) return 'failed';
        await new Promise((r) => setTimeout(r, FINAL_FLUSH_RETRY_MS));
      }
    }
  }

  /** The shared hash to PostgreSQL at shutdown: until flushed, Redis is gone, or `untilMs`. */
  private async finalSharedFlush(
    untilMs: number,
  ): Promise<'flushed' | 'locked' | 'retried' | 'failed' | 'unreachable'> {
    for (;;) {
      const outcome = await this.flushShared().catch(() => (this.redis.status === 'ready' ? 'failed' : 'unreachable'));
      if (outcome === 'flushed' || outcome === 'unreachable' || Date.now() >= untilMs) return outcome;
      if (outcome !== 'retried') await new Promise((r) => setTimeout(r, FINAL_FLUSH_RETRY_MS));
    }
  }

  /**
   * Moves this worker's tally to the shared hash; what Redis refuses is kept
   * for PostgreSQL. Says once, naming REDIS_URL, when Redis starts refusing
   * and when it takes clicks again. Returns the clicks pushed.
   */
  private async push(): Promise<number> {
    if (this.unpushed.size === 0) return 0;
    const batch = [...this.unpushed];
    this.unpushed.clear();
    const refused = await this.redis.eval(PUSH_TALLY, 1, PENDING, JSON.stringify(Object.fromEntries(batch))).then(
      () => undefined,
      (err: unknown) => err,
    );
    const clicks = batch.reduce((n, [, c]) => n + c, 0);
    if (refused === undefined) {
      if (!this.redisUp) this.log.info(`Redis at REDIS_URL (${this.redisAddress}) takes clicks again`);
      this.redisUp = true;
      return clicks;
    }
    for (const [slug, n] of batch) this.bufferLocally(slug, n);
    if (this.redisUp) {
      this.log.warn(
        { reason: (refused as Error)?.message },
        `Redis at REDIS_URL (${this.redisAddress}) is unreachable: clicks are written to PostgreSQL directly until it is back`,
      );
    }
    this.redisUp = false;
    return 0;
  }

  private bufferLocally(slug: string, n: number): void {
    this.local.set(slug, (this.local.get(slug) ?? 0) + n);
  }

  /** This worker's own buffer (what Redis refused) to PostgreSQL; returns the clicks written. */
  private async flushLocal(): Promise<number> {
    if (!this.localBatch) {
      if (this.local.size === 0) return 0;
      this.localBatch = { id: randomUUID(), counts: new Map(this.local) };
      this.local.clear();
    }
    const { id, counts } = this.localBatch;
    await this.apply(id, JSON.stringify(Object.fromEntries(counts)));
    this.localBatch = undefined;
    return [...counts.values()].reduce((a, b) => a + b, 0);
  }

  /**
   * Applies the shared hash under the lock. `flushed`: everything pushed before
   * the call is in PostgreSQL; `locked`: another worker's flush holds the lock;
   * `retried`: the batch applied was one a failed flush left, and the hash may
   * hold more.
   */
  private async flushShared(): Promise<'flushed' | 'locked' | 'retried'> {
    const locked = await this.redis.set(LOCK, this.lockToken, 'PX', LOCK_TTL_MS, 'NX');
    if (locked !== 'OK') return 'locked';
    try {
      const newId = randomUUID();
      const taken = (await this.redis.eval(TAKE_BATCH, 3, PENDING, INFLIGHT, INFLIGHT_ID, newId)) as
        [] | [string, string];
      if (taken.length === 0) return 'flushed';
      const [id, counts] = taken;
      await this.apply(id, counts);
      // UNLINK: a batch of a long tail is a hash of tens of thousands of fields; Redis frees it in the background.
      await this.redis.unlink(INFLIGHT, INFLIGHT_ID);
      this.log.debug({ batchBytes: counts.length }, 'clicks flushed');
      return id === newId ? 'flushed' : 'retried';
    } finally {
      await this.redis.eval(RELEASE_LOCK, 1, LOCK, this.lockToken).catch(() => undefined);
    }
  }

  /**
   * One statement: record the batch id, and add the counts only if the id
   * was new (a second attempt finds it and adds nothing; a concurrent one
   * waits on the key until the first commits). Ids older than the retention
   * are pruned on the way.
   */
  private async apply(id: string, countsJson: string): Promise<void> {
    await this.prisma.$executeRaw`
      WITH batch AS (
        INSERT INTO click_batches (id) VALUES (${id}::uuid) ON CONFLICT (id) DO NOTHING RETURNING id
      ), pruned AS (
        DELETE FROM click_batches WHERE applied_at < now() - make_interval(days => ${BATCH_ID_RETENTION_DAYS}::int)
      )
      UPDATE links AS l SET clicks = l.clicks + v.value::bigint
      FROM jsonb_each_text(${countsJson}::jsonb) AS v, batch
      WHERE l.slug = v.key`;
  }
}
