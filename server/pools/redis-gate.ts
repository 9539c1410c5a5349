import { randomBytes } from "node:crypto";
import { Redis, type RedisOptions } from "ioredis";
import { abortReason, assertLimit, GateClosedError, type AcquireOptions, type PoolGate, type Slot } from "./gate.ts";
import { SCRIPTS, type ScriptName } from "./redis-scripts.ts";

/** Options of {@link RedisGate}. */
export interface RedisGateOptions {
  /** Where the pools live: a `redis://` URL or ioredis options. The gate opens its own two connections. */
  redis: RedisOptions | string;
  /**
   * Key and channel prefix; every process of one cluster must use the same.
   * @defaultValue `"mailbridge:pool"`
   */
  prefix?: string;
  /**
   * How long a slot (or a place in the queue) outlives the last renewal of its process.
   * Live processes renew every `leaseMs / 3`, so slots of a killed process come back
   * within `leaseMs` plus one renewal period.
   * @defaultValue `10_000`
   */
  leaseMs?: number;
}

/** @defaultValue of {@link RedisGateOptions.prefix}. */
export const DEFAULT_POOL_PREFIX = "mailbridge:pool";
/** @defaultValue of {@link RedisGateOptions.leaseMs}. */
export const DEFAULT_LEASE_MS = 10_000;
/** A pool's meta hash (limit, ticket counter) expires after a day without use. */
const IDLE_TTL_MS = 24 * 60 * 60 * 1000;

type Reply = number | string | Reply[];
type ScriptCall = (...keysAndArgs: (string | number)[]) => Promise<Reply>;
type ScriptRedis = Redis & Record<ScriptName, ScriptCall>;
type ScriptPipeline = { exec(): Promise<[Error | null, Reply][] | null> } & Record<
  ScriptName,
  (...keysAndArgs: (string | number)[]) => ScriptPipeline
>;

interface Waiter {
  poolId: string;
  resolve(slot: Slot): void;
  reject(err: unknown): void;
  cleanup(): void;
}

/** What this process holds and awaits in one pool: the leases it must renew. */
interface LocalPool {
  keys: PoolKeys;
  held: Set<string>;
  waiting: Set<string>;
}

type PoolKeys = [string, string, string, string, string];

/**
 * Queue-mode gate: pools live in Redis and hold across every process sharing it.
 *
 * One command connection and one subscriber per process, however many pools. Each operation is
 * one Lua script on one pool (see redis-scripts.ts); a release hands the slot straight to the
 * head of the queue and publishes the grant on the owner's process channel. A renewal tick every
 * `leaseMs / 3` keeps this process's leases alive and recovers grants whose message was lost.
 */
export class RedisGate implements PoolGate {
  readonly #cmd: ScriptRedis;
  readonly #sub: Redis;
  readonly #prefix: string;
  readonly #leaseMs: number;
  readonly #proc = randomBytes(8).toString("hex");
  readonly #grantPrefix: string;
  readonly #pauseChannel: string;
  readonly #ready: Promise<unknown>;
  readonly #waiters = new Map<string, Waiter>();
  readonly #local = new Map<string, LocalPool>();
  readonly #kicks = new Map<string, ReturnType<typeof setTimeout>>();
  readonly #renewTimer: ReturnType<typeof setInterval>;
  #n = 0;
  #ticking = false;
  #closed = false;

  constructor(opts: RedisGateOptions) {
    this.#prefix = opts.prefix ?? DEFAULT_POOL_PREFIX;
    this.#leaseMs = Math.max(300, Math.round(opts.leaseMs ?? DEFAULT_LEASE_MS));
    this.#grantPrefix = `${this.#prefix}:grant:`;
    this.#pauseChannel = `${this.#prefix}:pause`;
    // Named, so `CLIENT LIST` shows the gate's two connections per process.
    const base: RedisOptions = { connectionName: `${this.#prefix}:gate` };
    const connect = (extra: RedisOptions): Redis =>
      typeof opts.redis === "string"
        ? new Redis(opts.redis, { ...base, ...extra })
        : new Redis({ ...base, ...opts.redis, ...extra });
    // Auto-pipelining batches the scripts of one event-loop turn into one write.
    this.#cmd = connect({ enableAutoPipelining: false }) as ScriptRedis;
    for (const [name, lua] of Object.entries(SCRIPTS)) {
      this.#cmd.defineCommand(name, { numberOfKeys: 5, lua });
    }
    this.#sub = connect({});
    // Errors surface as rejected commands; the listeners only stop ioredis from printing them.
    this.#cmd.on("error", () => {});
    this.#sub.on("error", () => {});
    this.#sub.on("message", (channel: string, message: string) => this.#onMessage(channel, message));
    // After a reconnect, grants published meanwhile were lost: look them up at once.
    this.#sub.on("ready", () => void this.#tick());
    this.#ready = this.#sub.subscribe(this.#grantPrefix + this.#proc, this.#pauseChannel);
    this.#ready.catch(() => {});
    this.#renewTimer = setInterval(() => void this.#tick(), Math.floor(this.#leaseMs / 3));
    this.#renewTimer.unref();
  }

  async acquire(poolId: string, limit: number, opts: AcquireOptions = {}): Promise<Slot> {
    assertLimit(limit);
    const { signal } = opts;
    if (this.#closed) throw new GateClosedError();
    if (signal?.aborted) throw abortReason(signal);
    await this.#ready;
    if (this.#closed) throw new GateClosedError();
    if (signal?.aborted) throw abortReason(signal);
    const id = `${this.#proc}:${this.#leaseMs}:${++this.#n}`;
    const local = this.#localPool(poolId);
    return new Promise<Slot>((resolve, reject) => {
      const onAbort = () => {
        if (!this.#forgetWaiter(id)) return;
        reject(abortReason(signal!));
        // If the grant crossed the abort, the script gives the slot back.
        this.#cmd.gateCancel(...this.#keys(poolId), id, this.#grantPrefix).catch(() => {});
      };
      const waiter: Waiter = {
        poolId,
        resolve,
        reject,
        cleanup: () => signal?.removeEventListener("abort", onAbort),
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      // Registered before the script runs: the grant message may overtake the script's reply.
      this.#waiters.set(id, waiter);
      local.waiting.add(id);
      this.#cmd.gateAcquire(...this.#keys(poolId), id, limit, IDLE_TTL_MS, this.#grantPrefix).then(
        (reply) => {
          const [granted, pauseLeft] = reply as number[];
          if (granted === 1) this.#granted(id);
          else if (pauseLeft > 0) this.#kickAt(poolId, pauseLeft);
        },
        (err: unknown) => {
          if (!this.#forgetWaiter(id)) return;
          reject(err);
          this.#cmd.gateCancel(...this.#keys(poolId), id, this.#grantPrefix).catch(() => {});
        },
      );
    });
  }

  async pause(poolId: string, ms: number): Promise<void> {
    if (this.#closed) throw new GateClosedError();
    const duration = Math.ceil(ms);
    if (!(duration > 0)) return;
    await this.#cmd.gatePause(...this.#keys(poolId), duration, poolId, this.#pauseChannel);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#renewTimer);
    for (const timer of this.#kicks.values()) clearTimeout(timer);
    this.#kicks.clear();
    const pipeline = (this.#cmd as unknown as { pipeline(): ScriptPipeline }).pipeline();
    for (const [poolId, local] of this.#local) {
      for (const id of local.waiting) pipeline.gateCancel(...this.#keys(poolId), id, this.#grantPrefix);
      for (const id of local.held) pipeline.gateRelease(...this.#keys(poolId), id, this.#grantPrefix);
    }
    for (const waiter of this.#waiters.values()) {
      waiter.cleanup();
      waiter.reject(new GateClosedError());
    }
    this.#waiters.clear();
    this.#local.clear();
    await pipeline.exec().catch(() => {});
    await Promise.allSettled([this.#cmd.quit(), this.#sub.quit()]);
  }

  #keys(poolId: string): PoolKeys {
    const local = this.#local.get(poolId);
    if (local) return local.keys;
    // The hash tag keeps a pool's keys in one cluster slot, as multi-key scripts require.
    const base = `${this.#prefix}:{${poolId}}:`;
    return [base + "h", base + "q", base + "ql", base + "m", base + "p"];
  }

  #localPool(poolId: string): LocalPool {
    let local = this.#local.get(poolId);
    if (!local) {
      local = { keys: this.#keys(poolId), held: new Set(), waiting: new Set() };
      this.#local.set(poolId, local);
    }
    return local;
  }

  #prune(poolId: string, local: LocalPool): void {
    if (local.held.size === 0 && local.waiting.size === 0) this.#local.delete(poolId);
  }

  /** Drops a pending waiter; false when it was already settled. */
  #forgetWaiter(id: string): Waiter | undefined {
    const waiter = this.#waiters.get(id);
    if (!waiter) return undefined;
    this.#waiters.delete(id);
    waiter.cleanup();
    const local = this.#local.get(waiter.poolId);
    if (local) {
      local.waiting.delete(id);
      this.#prune(waiter.poolId, local);
    }
    return waiter;
  }

  #granted(id: string): void {
    const waiter = this.#waiters.get(id);
    if (!waiter) return; // settled already: the reply and the message both announce a grant
    this.#waiters.delete(id);
    waiter.cleanup();
    const local = this.#localPool(waiter.poolId);
    local.waiting.delete(id);
    local.held.add(id);
    waiter.resolve(this.#slot(waiter.poolId, id));
  }

  #slot(poolId: string, id: string): Slot {
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        const local = this.#local.get(poolId);
        if (!local?.held.delete(id)) return; // given back by close()
        this.#prune(poolId, local);
        await this.#cmd.gateRelease(...local.keys, id, this.#grantPrefix);
      },
    };
  }

  #onMessage(channel: string, message: string): void {
    if (channel === this.#pauseChannel) {
      const space = message.indexOf(" ");
      const poolId = message.slice(space + 1);
      if (this.#local.get(poolId)?.waiting.size) this.#kickAt(poolId, Number(message.slice(0, space)));
      return;
    }
    this.#granted(message);
  }

  /** When a pause ends nobody releases a slot, so the waiting side asks for its grants then. */
  #kickAt(poolId: string, ms: number): void {
    if (this.#closed) return;
    clearTimeout(this.#kicks.get(poolId));
    const timer = setTimeout(() => {
      this.#kicks.delete(poolId);
      void this.#tick([poolId]);
    }, ms + 1);
    timer.unref();
    this.#kicks.set(poolId, timer);
  }

  /** Renew leases, reclaim dead slots and pick up lost grants, one pipelined round trip. */
  async #tick(poolIds?: string[]): Promise<void> {
    if (this.#closed) return;
    const periodic = poolIds === undefined;
    if (periodic && this.#ticking) return;
    const pools = (poolIds ?? [...this.#local.keys()]).filter((p) => this.#local.has(p));
    if (pools.length === 0) return;
    if (periodic) this.#ticking = true;
    try {
      const pipeline = (this.#cmd as unknown as { pipeline(): ScriptPipeline }).pipeline();
      for (const poolId of pools) {
        const local = this.#local.get(poolId)!;
        pipeline.gateTick(
          ...this.#keys(poolId),
          this.#grantPrefix,
          IDLE_TTL_MS,
          local.held.size,
          ...local.held,
          ...local.waiting,
        );
      }
      const results = (await pipeline.exec()) ?? [];
      results.forEach(([err, reply], i) => {
        if (err || !Array.isArray(reply)) return;
        const [pauseLeft, ...granted] = reply as [number, ...string[]];
        for (const id of granted) this.#granted(id);
        if (pauseLeft > 0 && this.#local.get(pools[i])?.waiting.size) this.#kickAt(pools[i], pauseLeft);
      });
    } catch {
      // Redis unreachable: the next tick tries again; leases are long enough to ride it out.
    } finally {
      if (periodic) this.#ticking = false;
    }
  }
}
