-- join_room / presence: count a user's open connections per web process, cap them, and remember
-- since when she watches.
--
-- KEYS[1] connections hash  {s:<sid>}:conns          user id -> open connections over live processes
-- KEYS[2] presence hash     {s:<sid>}:present        user id -> "joined_at_ms:left_at_ms" (left_at 0 while present)
-- KEYS[3] processes hash    {s:<sid>}:procs          process id -> last heartbeat ms (see beat_presence.lua)
-- KEYS[4] this process's    {s:<sid>}:conns:<pid>    user id -> open connections on this process
-- ARGV[1] user id  ARGV[2] +1 on join, -1 on leave  ARGV[3] grace ms: a reconnect within it keeps
--         the original joined_at, so a phone's network blip does not reset watch time
-- ARGV[4] process id  ARGV[5] most connections one user may hold in the session (0: no cap)
--
-- Returns the user's open connections after the change; -1 when a join is refused because the
-- user already holds ARGV[5] connections; -2 when the process is not registered in KEYS[3] (its
-- counts were reaped as a dead process's, or it never joined this session): nothing changed, and
-- the caller registers with restore_presence.lua and joins again. A leave the reaper already
-- counted (nothing of the user's left in KEYS[4]) changes nothing.

local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local user, delta = ARGV[1], tonumber(ARGV[2])
if not redis.call('HGET', KEYS[3], ARGV[4]) then return -2 end
local conns = tonumber(redis.call('HGET', KEYS[1], user) or '0')
if delta > 0 then
  local cap = tonumber(ARGV[5])
  if cap > 0 and conns >= cap then return -1 end
else
  if tonumber(redis.call('HGET', KEYS[4], user) or '0') <= 0 then return conns end
end
redis.call('HSET', KEYS[3], ARGV[4], now_ms)
if redis.call('HINCRBY', KEYS[4], user, delta) <= 0 then redis.call('HDEL', KEYS[4], user) end
conns = redis.call('HINCRBY', KEYS[1], user, delta)
local prior = redis.call('HGET', KEYS[2], user)
local joined, left = now_ms, 0
if prior then
  local sep = string.find(prior, ':', 1, true)
  joined, left = tonumber(string.sub(prior, 1, sep - 1)), tonumber(string.sub(prior, sep + 1))
end
if conns <= 0 then
  redis.call('HDEL', KEYS[1], user)
  redis.call('HSET', KEYS[2], user, joined .. ':' .. now_ms)
  return 0
end
if conns == delta and delta > 0 then
  if not prior or (left > 0 and now_ms - left > tonumber(ARGV[3])) then joined = now_ms end
  redis.call('HSET', KEYS[2], user, joined .. ':0')
end
return conns
