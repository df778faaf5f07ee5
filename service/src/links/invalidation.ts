import type { Redis } from 'ioredis';
import type { Logger } from '../logger';
import type { LocalLinkCache } from './local-cache';

/** The channel, under the deployment's key prefix (ioredis prefixes keys, never channels). */
export const invalidationChannel = (keyPrefix: string) => `${keyPrefix}links:invalidate`;

/**
 * Keeps every worker's local cache coherent: a worker that deletes or creates
 * a link publishes its slug once PostgreSQL has committed; every worker of
 * every pod, itself included, evicts it on the message. Delivery is at most
 * once, so when the subscriber reconnects (messages may have been lost
 * meanwhile) the worker clears its whole local cache; while Redis is down,
 * entries still expire by their TTL.
 */
export class Invalidations {
  private readonly subscriber: Redis;
  private readonly channel: string;
  private subscribedOnce = false;
  private markSubscribed!: () => void;
  private readonly subscribed = new Promise<void>((resolve) => (this.markSubscribed = resolve));

  constructor(
    private readonly redis: Redis,
    keyPrefix: string,
    private readonly local: LocalLinkCache,
    private readonly received: { inc(): void },
    private readonly log: Logger,
  ) {
    this.channel = invalidationChannel(keyPrefix);
    // A connection of its own (a subscribed connection takes no other command). It subscribes
    // itself on every 'ready', so the cache is cleared only once the subscription is back.
    this.subscriber = redis.duplicate({
      autoResubscribe: false,
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      commandTimeout: undefined,
    });
    this.subscriber.on('error', () => undefined);
    this.subscriber.on('message', (_channel: string, slug: string) => {
      this.local.evict(slug);
      this.received.inc();
    });
    this.subscriber.on('ready', () => void this.subscribe());
  }

  private async subscribe(): Promise<void> {
    try {
      await this.subscriber.subscribe(this.channel);
    } catch (err) {
      this.log.warn({ err }, 'invalidation subscribe failed; retrying on the next reconnect');
      return;
    }
    if (this.subscribedOnce) {
      this.local.clear();
      this.log.info('invalidation subscriber reconnected: local link cache cleared');
    }
    this.subscribedOnce = true;
    this.markSubscribed();
  }

  /**
   * After a commit that changes what `slug` resolves to: this worker evicts at
   * once (its own message comes back later), the others on the message. A
   * failure is logged: the TTL then bounds staleness.
   */
  async publish(slug: string): Promise<void> {
    this.local.evict(slug);
    await this.redis.publish(this.channel, slug).catch((err: unknown) => {
      this.log.warn({ err, slug }, 'invalidation not published; other workers may serve the old answer until its TTL');
    });
  }

  /** Resolves once subscribed (or after `timeoutMs`): start-up does not wait on a cache. */
  async ready(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.subscribed, new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }

  async close(): Promise<void> {
    await this.subscriber.quit().catch(() => undefined);
    this.subscriber.disconnect();
  }
}
