-- claim_flash_plan: take the start of a scheduled flash sale for one web process, once.
--
-- KEYS[1] the plan  {s:<sid>}:flash_plan:<pid>  fields item_id, starts_at, duration_s, state
--         (pending, starting, started, cancelled), ends_at, claimed_by, lease_until
-- ARGV[1] process id  ARGV[2] lease ms: a claimer silent this long is presumed dead
--
-- Returns {1, ends_at} to the one process that should start the sale now; ends_at is fixed at the
-- first claim (its start plus duration_s) and handed again to a process that takes over a lapsed
-- lease, so a retried start opens the same sale. Otherwise {0, reason}: gone, started, cancelled,
-- early (before starts_at) or claimed (another process holds a live lease).

local f = redis.call('HMGET', KEYS[1], 'state', 'starts_at', 'duration_s', 'ends_at', 'lease_until')
local state = f[1]
if not state then return {0, 'gone'} end
if state == 'started' or state == 'cancelled' then return {0, state} end
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now_ms < tonumber(f[2]) then return {0, 'early'} end
if state == 'starting' and now_ms < tonumber(f[5] or '0') then return {0, 'claimed'} end
local ends_at = tonumber(f[4] or '0')
if ends_at == 0 then
  ends_at = now_ms + tonumber(f[3]) * 1000
end
redis.call('HSET', KEYS[1], 'state', 'starting', 'ends_at', ends_at, 'claimed_by', ARGV[1],
  'lease_until', now_ms + tonumber(ARGV[2]))
return {1, ends_at}
