/** A RedisGate per test in a key namespace of its own, removed afterwards (never FLUSHALL). */
import { Redis } from "ioredis";
import { RedisGate, type RedisGateOptions } from "../../server/pools/redis-gate.ts";
import { uniqueName } from "../support/services.ts";

export class RedisNamespace {
  readonly prefix = uniqueName("pools");
  readonly #admin: Redis;
  readonly #gates: RedisGate[] = [];

  constructor(readonly url: string) {
    this.#admin = new Redis(url);
  }

  /** A gate in this namespace; each one stands for a process (its own connections). */
  gate(opts: Partial<RedisGateOptions> = {}): RedisGate {
    const gate = new RedisGate({ redis: this.url, prefix: this.prefix, ...opts });
    this.#gates.push(gate);
    return gate;
  }

  get admin(): Redis {
    return this.#admin;
  }

  /** Close every gate and delete every key of the namespace. */
  async cleanup(): Promise<void> {
    await Promise.all(this.#gates.splice(0).map((g) => g.close()));
    let cursor = "0";
    do {
      const [next, keys] = await this.#admin.scan(cursor, "MATCH", `${this.prefix}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await this.#admin.del(...keys);
    } while (cursor !== "0");
  }

  async quit(): Promise<void> {
    await this.cleanup();
    await this.#admin.quit();
  }
}

/**
 * Let grants already published reach the gates before asserting that a waiter still waits.
 * Grants travel on a pub/sub connection, so there is no reply to await; a Redis round trip plus
 * a short margin covers their delivery. Used only for "still waiting" assertions.
 */
export async function settleRedis(admin: Redis): Promise<void> {
  await admin.ping();
  await new Promise((r) => setTimeout(r, 25));
}
