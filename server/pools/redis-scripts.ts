/**
 * Lua scripts of {@link RedisGate}. Each runs atomically on the keys of ONE pool, so the pool's
 * state never needs a lock and the scripts stay valid under Redis Cluster (the pool id is a
 * hash tag).
 *
 * Keys of a pool (KEYS[1..5]):
 * - `h`  holders: ZSET member = slot id, score = lease expiry (ms, Redis clock)
 * - `q`  waiters: ZSET member = slot id, score = ticket (FIFO order)
 * - `ql` waiter leases: ZSET member = slot id, score = lease expiry
 * - `m`  meta: HASH `limit` (the latest limit asked for), `seq` (ticket counter)
 * - `p`  pause: a string whose PTTL is the pause left
 *
 * A slot id is `<process>:<leaseMs>:<n>`: the owner's process id names its grant channel
 * (`<prefix>:grant:<process>`) and its lease length is used when a slot is granted to it.
 */

const PRELUDE = `
local h, q, ql, m, p = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function lease_of(id)
  return tonumber(string.match(id, '^[^:]+:(%d+):'))
end

-- Forget holders and waiters whose process stopped renewing (SIGKILL, lost network).
local function reclaim()
  redis.call('ZREMRANGEBYSCORE', h, '-inf', now)
  local dead = redis.call('ZRANGEBYSCORE', ql, '-inf', now, 'LIMIT', 0, 500)
  if #dead > 0 then
    redis.call('ZREM', ql, unpack(dead))
    redis.call('ZREM', q, unpack(dead))
  end
end

-- Hand free slots to the head of the queue and tell each owner on its process channel.
local function grant(chan)
  if redis.call('EXISTS', p) == 1 then return end
  local limit = tonumber(redis.call('HGET', m, 'limit') or '1')
  local free = limit - redis.call('ZCARD', h)
  while free > 0 do
    local head = redis.call('ZRANGE', q, 0, 0)[1]
    if not head then return end
    redis.call('ZREM', q, head)
    redis.call('ZREM', ql, head)
    redis.call('ZADD', h, now + lease_of(head), head)
    redis.call('PUBLISH', chan .. string.match(head, '^[^:]+'), head)
    free = free - 1
  end
end
`;

/** Script name → [number of keys, Lua body]. */
export const SCRIPTS = {
  /**
   * ARGV: id, limit, idleTtlMs, grantChannelPrefix.
   * Returns {granted (0|1), pause ms left (<=0 when not paused)}.
   */
  gateAcquire: `${PRELUDE}
local id, limit = ARGV[1], tonumber(ARGV[2])
reclaim()
redis.call('HSET', m, 'limit', limit)
redis.call('PEXPIRE', m, ARGV[3])
local pttl = redis.call('PTTL', p)
if pttl <= 0 and redis.call('ZCARD', q) == 0 and redis.call('ZCARD', h) < limit then
  redis.call('ZADD', h, now + lease_of(id), id)
  return {1, pttl}
end
redis.call('ZADD', q, redis.call('HINCRBY', m, 'seq', 1), id)
redis.call('ZADD', ql, now + lease_of(id), id)
grant(ARGV[4])
if redis.call('ZSCORE', h, id) then return {1, pttl} end
return {0, pttl}
`,

  /** ARGV: id, grantChannelPrefix. Returns 1 when the slot was held. */
  gateRelease: `${PRELUDE}
local removed = redis.call('ZREM', h, ARGV[1])
reclaim()
grant(ARGV[2])
return removed
`,

  /**
   * A waiter gives up. ARGV: id, grantChannelPrefix.
   * Returns 0 when it was still queued, 1 when it had just been granted (the slot is given back), -1 otherwise.
   */
  gateCancel: `${PRELUDE}
if redis.call('ZREM', q, ARGV[1]) == 1 then
  redis.call('ZREM', ql, ARGV[1])
  return 0
end
if redis.call('ZREM', h, ARGV[1]) == 1 then
  reclaim()
  grant(ARGV[2])
  return 1
end
return -1
`,

  /**
   * Renew this process's leases in one pool, reclaim dead ones, grant, and report which of our
   * waiters hold a slot by now (a grant whose message was lost).
   * ARGV: grantChannelPrefix, idleTtlMs, nHeld, held ids..., waiting ids...
   * Returns {pause ms left, granted waiter ids...}.
   */
  gateTick: `${PRELUDE}
local nheld = tonumber(ARGV[3])
for i = 4, #ARGV do
  local id = ARGV[i]
  if i < 4 + nheld then
    redis.call('ZADD', h, 'XX', now + lease_of(id), id)
  else
    redis.call('ZADD', ql, 'XX', now + lease_of(id), id)
  end
end
if redis.call('EXISTS', m) == 1 then redis.call('PEXPIRE', m, ARGV[2]) end
reclaim()
grant(ARGV[1])
local out = {redis.call('PTTL', p)}
for i = 4 + nheld, #ARGV do
  if redis.call('ZSCORE', h, ARGV[i]) then out[#out + 1] = ARGV[i] end
end
return out
`,

  /** ARGV: ms, poolId, pauseChannel. Extends the pause to `ms` unless longer is left; returns the pause left. */
  gatePause: `${PRELUDE}
local ms = tonumber(ARGV[1])
local left = redis.call('PTTL', p)
if left < ms then
  redis.call('SET', p, '1', 'PX', ms)
  left = ms
end
redis.call('PUBLISH', ARGV[3], left .. ' ' .. ARGV[2])
return left
`,
} as const;

export type ScriptName = keyof typeof SCRIPTS;
