/**
 * Lua scripts of {@link RedisBudget}: one script per decision, atomic over every bucket of one
 * call (the buckets of a scope share a hash tag, so the scripts hold under Redis Cluster). The
 * arithmetic is budget.ts's `reserve` and `shrinkState`, line for line.
 *
 * A bucket is a HASH: `tat` (when it is paid up, ms), `f` (its shrunk pace factor) as of `ft`,
 * `st` (its last halving).
 * ARGV[1] is the caller's clock in ms, or "" to use the Redis clock.
 */
import { MAX_UNITS_PER_CALL } from "../../connector/quota-costs.ts";
import { MIN_FACTOR, PACE_WINDOW_MS, RECOVERY_MS, SHRINK_INTERVAL_MS } from "./budget.ts";

const PRELUDE = `
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
local function headroom(u)
  return math.min(math.max(u / 50, ${MAX_UNITS_PER_CALL}), u / 2)
end
local function pace(u)
  return (u - headroom(u)) / ${PACE_WINDOW_MS}
end
local function load(key)
  local v = redis.call('HMGET', key, 'tat', 'f', 'ft')
  local tat = tonumber(v[1]) or now
  local f = math.min(1, (tonumber(v[2]) or 1) + math.max(0, now - (tonumber(v[3]) or now)) / ${RECOVERY_MS})
  return tat, f
end
local function num(x)
  return string.format('%.17g', x)
end
local function save(key, tat, f, ft)
  redis.call('HSET', key, 'tat', num(tat), 'f', num(f), 'ft', num(ft))
  -- Kept while it owes time or its pace is still recovering, then forgotten (a full bucket).
  redis.call('PEXPIRE', key, math.ceil(math.max(tat - now, 0) + ${RECOVERY_MS} + 60000))
end
`;

export const SCRIPTS = {
  /**
   * ARGV: now, units, unitsPerMinute of each key.
   * Returns {wait ms, now, cost of each bucket in ms} as strings.
   */
  quotaTake: `${PRELUDE}
local units = tonumber(ARGV[2])
local start = now
local st = {}
for i = 1, #KEYS do
  local u = tonumber(ARGV[2 + i])
  local tat, f = load(KEYS[i])
  local rate = pace(u) * f
  local cost = units / rate
  local tolerance = math.max(headroom(u) / rate, cost)
  start = math.max(start, tat + cost - tolerance)
  st[i] = {tat, f, cost}
end
if start - now < 1 then start = now end
local out = {num(start - now), num(now)}
for i = 1, #KEYS do
  save(KEYS[i], math.max(st[i][1], start) + st[i][3], st[i][2], now)
  out[#out + 1] = num(st[i][3])
end
return out
`,

  /** A waiter gave up: ARGV: now, cost of each key (ms) to give back. */
  quotaRefund: `${PRELUDE}
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('HINCRBYFLOAT', KEYS[i], 'tat', -tonumber(ARGV[1 + i]))
  end
end
return 1
`,

  /** Google refused anyway: ARGV: now, pauseMs, unitsPerMinute of each key. */
  quotaShrink: `${PRELUDE}
local pause = math.max(0, tonumber(ARGV[2]))
for i = 1, #KEYS do
  local u = tonumber(ARGV[2 + i])
  local tat, f = load(KEYS[i])
  local st = tonumber(redis.call('HGET', KEYS[i], 'st'))
  if not st or now - st >= ${SHRINK_INTERVAL_MS} then
    f = math.max(${MIN_FACTOR}, f / 2)
    redis.call('HSET', KEYS[i], 'st', num(now))
  end
  local rate = pace(u) * f
  save(KEYS[i], math.max(tat, now + pause + headroom(u) / rate), f, now)
end
return 1
`,

  /**
   * The day's units of a scope: KEYS[1] the day's counter; ARGV: units, limit (-1: none).
   * Counts the units unless the limit would be passed. Returns {total, counted (0|1)}.
   */
  quotaDaily: `
local total = tonumber(redis.call('GET', KEYS[1]) or '0')
local units, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
if limit >= 0 and total + units > limit then return {total, 0} end
total = redis.call('INCRBY', KEYS[1], units)
-- Kept two days: the day itself, read for a while after it ends.
if total == units then redis.call('PEXPIRE', KEYS[1], 172800000) end
return {total, 1}
`,
} as const;

export type QuotaScriptName = keyof typeof SCRIPTS;
