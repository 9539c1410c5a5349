/**
 * Mutual exclusion per connection for what changes its tokens: a refresh (which may rotate the
 * refresh token) and a deauthorize or delete (which revokes it). In queue mode a short Redis lock
 * per connection (SET NX PX, released only by its owner), across processes; in single-process
 * mode an in-memory lock. Without it a revocation could send the refresh token a refresh in flight
 * is about to replace, and the replacement would keep the grant alive at Google.
 */
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";

export interface RefreshLock {
  /** Run `fn` while holding the lock of `key`. */
  withLock<T>(key: string, fn: () => Promise<T>): Promise<T>;
}

/** One process: callers of a key run one after another, in the order they asked. */
export class LocalRefreshLock implements RefreshLock {
  private readonly tails = new Map<string, Promise<void>>();

  async withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = before.then(() => mine);
    this.tails.set(key, tail);
    await before;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

/** Longest a refresh may hold the lock; a crashed holder's lock lapses after it. */
export const DEFAULT_REFRESH_LOCK_MS = 15_000;
const RETRY_MS = 25;

const RELEASE = `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end`;

export class RedisRefreshLock implements RefreshLock {
  constructor(
    private readonly redis: Redis,
    private readonly prefix = "mailbridge:refresh",
    private readonly ttlMs = DEFAULT_REFRESH_LOCK_MS,
  ) {}

  async withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const name = `${this.prefix}:${key}`;
    const owner = randomBytes(12).toString("hex");
    const deadline = Date.now() + this.ttlMs * 2;
    // Waiting here is rare (another process is refreshing this very connection) and short.
    while ((await this.redis.set(name, owner, "PX", this.ttlMs, "NX")) !== "OK") {
      if (Date.now() > deadline) throw new Error(`timed out waiting for the refresh lock of ${key}`);
      await new Promise((r) => setTimeout(r, RETRY_MS));
    }
    try {
      return await fn();
    } finally {
      await this.redis.eval(RELEASE, 1, name, owner).catch(() => {});
    }
  }
}
