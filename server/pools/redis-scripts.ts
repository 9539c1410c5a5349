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

// Every redis.call costs a few microseconds of script overhead, so the hot paths (acquire of a
// free slot, release with nobody waiting) make as few as they can.
const PRELUDE = `
local h, q, ql, m, p = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now
local function clock()
  if not now then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return now
end

local function lease_of(id)
  return tonumber(string.match(id, '^[^:]+:(%d+):'))
end

-- Forget holders and waiters whose process stopped renewing (SIGKILL, lost network).
local function reclaim()
  redis.call('ZREMRANGEBYSCORE', h, '-inf', clock())
  local dead = redis.call('ZRANGEBYSCORE', ql, '-inf', clock(), 'LIMIT', 0, 500)
  if #dead > 0 then
    redis.call('ZREM', ql, unpack(dead))
    redis.call('ZREM', q, unpack(dead))
  end
end

-- Hand free slots to the head of the queue and tell each owner on its process channel.
-- Invariant kept by every script: unless paused, the queue is empty or the pool is full.
local function grant(chan)
  if redis.call('ZCARD', q) == 0 or redis.call('EXISTS', p) == 1 then return end
  local free = tonumber(redis.call('HGET', m, 'limit') or '1') - redis.call('ZCARD', h)
  while free > 0 do
    local popped = redis.call('ZPOPMIN', q)
    local head = popped[1]
    if not head then return end
    local expires = redis.call('ZSCORE', ql, head)
    redis.call('ZREM', ql, head)
    -- A waiter whose process died is dropped here rather than handed a slot.
    if not expires or tonumber(expires) > clock() then
      redis.call('ZADD', h, clock() + lease_of(head), head)
      redis.call('PUBLISH', chan .. string.match(head, '^[^:]+'), head)
      free = free - 1
    end
  end
end
`;

/** Script name → Lua body; every script takes the five keys of one pool. */
export const SCRIPTS = {
  /**
   * ARGV: id, limit, idleTtlMs, grantChannelPrefix.
   * Returns {granted (0|1), pause ms left (<=0 when not paused)}.
   */
  gateAcquire: `${PRELUDE}
local id, limit = ARGV[1], tonumber(ARGV[2])
local raised = false
if redis.call('HGET', m, 'limit') ~= ARGV[2] then
  redis.call('HSET', m, 'limit', ARGV[2])
  redis.call('PEXPIRE', m, ARGV[3])
  raised = true
end
local pttl = redis.call('PTTL', p)
local room = pttl <= 0 and redis.call('ZCARD', h) < limit
if room and redis.call('ZCARD', q) == 0 then
  redis.call('ZADD', h, clock() + lease_of(id), id)
  return {1, pttl}
end
redis.call('ZADD', q, redis.call('HINCRBY', m, 'seq', 1), id)
redis.call('ZADD', ql, clock() + lease_of(id), id)
if room or raised then
  grant(ARGV[4])
  if redis.call('ZSCORE', h, id) then return {1, pttl} end
end
return {0, pttl}
`,

  /** ARGV: id, grantChannelPrefix. Returns 1 when the slot was held. */
  gateRelease: `${PRELUDE}
local removed = redis.call('ZREM', h, ARGV[1])
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
  grant(ARGV[2])
  return 1
end
return -1
`,

  /**
   * The safety poll, per pool and process: renew this process's leases, reclaim those of dead
   * processes, grant, and report which of our waiters hold a slot by now (a grant whose message
   * was lost). ARGV: grantChannelPrefix, idleTtlMs, nHeld, held ids..., waiting ids...
   * Returns {pause ms left, granted waiter ids...}.
   */
  gateTick: `${PRELUDE}
local nheld = tonumber(ARGV[3])
for i = 4, #ARGV do
  local id = ARGV[i]
  if i < 4 + nheld then
    redis.call('ZADD', h, 'XX', clock() + lease_of(id), id)
  else
    redis.call('ZADD', ql, 'XX', clock() + lease_of(id), id)
  end
end
redis.call('PEXPIRE', m, ARGV[2])
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
