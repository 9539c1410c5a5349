/**
 * Tells the other processes of a cluster to forget a token or session they may have resolved
 * and cached ({@link ExpiringCache}): a sign-out on one process ends the session on every
 * process as soon as Redis delivers the message, instead of after the cache's few seconds.
 * A message lost while a subscriber is disconnected falls back to that bound.
 */
import type { Redis } from "ioredis";

/** One per process; the messages carry cache keys (hashes), never a token or session id. */
export interface ForgetBus {
  /** Start hearing the other processes' messages (resolves once nothing sent from now on is missed). */
  start(): Promise<void>;
  /** Have every other process forget `key` (the caller forgets it itself). */
  announce(key: string): Promise<void>;
  close(): Promise<void>;
}

/** {@link ForgetBus} over Redis pub/sub on `channel`, with a subscriber connection of its own. */
export class RedisForgetBus implements ForgetBus {
  private readonly subscriber: Redis;

  constructor(
    private readonly redis: Redis,
    private readonly channel: string,
    forget: (key: string) => void,
    onError: (err: Error) => void = () => {},
  ) {
    // A connection in subscriber mode can do nothing else: a duplicate of the shared client.
    this.subscriber = redis.duplicate();
    this.subscriber.on("error", onError);
    this.subscriber.on("message", (from: string, key: string) => {
      if (from === channel) forget(key);
    });
  }

  async start(): Promise<void> {
    await this.subscriber.subscribe(this.channel);
  }

  async announce(key: string): Promise<void> {
    await this.redis.publish(this.channel, key);
  }

  async close(): Promise<void> {
    this.subscriber.disconnect();
  }
}
