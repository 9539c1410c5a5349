export { GateClosedError, type AcquireOptions, type PoolGate, type Slot } from "./gate.ts";
export { MemoryGate } from "./memory-gate.ts";
export { RedisGate, DEFAULT_LEASE_MS, DEFAULT_POOL_PREFIX, type RedisGateOptions } from "./redis-gate.ts";
export { runInPool, backoffMs, type PoolRef, type RateLimitVerdict, type RunInPoolOptions } from "./run-in-pool.ts";
