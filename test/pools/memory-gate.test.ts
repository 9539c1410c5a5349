import { MemoryGate } from "../../server/pools/memory-gate.ts";
import { gateContract } from "./gate-contract.ts";

gateContract("MemoryGate", {
  make: () => new MemoryGate(),
  fakeClock: true,
  settle: async () => {
    for (let i = 0; i < 10; i++) await Promise.resolve();
  },
  cleanup: async () => {},
});
