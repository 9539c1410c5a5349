import { afterAll, afterEach, describe } from "vitest";
import { testRedisUrl } from "../support/services.ts";
import { gateContract } from "./gate-contract.ts";
import { RedisNamespace, settleRedis } from "./redis-harness.ts";

describe.skipIf(!testRedisUrl)("RedisGate", () => {
  let ns = new RedisNamespace(testRedisUrl!);
  const all: RedisNamespace[] = [ns];
  afterAll(async () => {
    await Promise.all(all.map((n) => n.quit()));
  });

  gateContract("RedisGate", {
    make: () => {
      ns = new RedisNamespace(testRedisUrl!);
      all.push(ns);
      return ns.gate();
    },
    fakeClock: false,
    settle: () => settleRedis(ns.admin),
    cleanup: () => ns.cleanup(),
  });
});
