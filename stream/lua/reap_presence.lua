-- reap_presence: take the connections of dead web processes out of a session's presence.
--
-- KEYS[1] processes hash    {s:<sid>}:procs        process id -> last heartbeat ms
-- KEYS[2] connections hash  {s:<sid>}:conns        user id -> open connections over live processes
-- KEYS[3] presence hash     {s:<sid>}:present      user id -> "joined_at_ms:left_at_ms"
-- KEYS[4..n] each dead process's connections hash  {s:<sid>}:conns:<pid>, in the order of ARGV[2..]
-- ARGV[1] staleness ms (-1: reap the named processes whatever their heartbeat, as one leaving does)
-- ARGV[2..] process ids
--
-- A process is reaped only if it is still silent for longer than ARGV[1] (another caller may have
-- reaped it, or it may have beaten since): its counts are subtracted from KEYS[2], users left with
-- none are marked as having left now, and it is unregistered. When no process is registered
-- afterwards, nobody can be watching: every remaining count (left by a version that kept no
-- per-process counts) is cleared the same way.
-- Returns the number of processes reaped.

local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local stale = tonumber(ARGV[1])

local function gone(user)
  redis.call('HDEL', KEYS[2], user)
  local prior = redis.call('HGET', KEYS[3], user)
  if prior then
    local sep = string.find(prior, ':', 1, true)
    if tonumber(string.sub(prior, sep + 1)) == 0 then
      redis.call('HSET', KEYS[3], user, string.sub(prior, 1, sep - 1) .. ':' .. now_ms)
    end
  end
end

local reaped = 0
for i = 2, #ARGV do
  local pid, counts = ARGV[i], KEYS[i + 2]
  local beat = redis.call('HGET', KEYS[1], pid)
  if beat and (stale < 0 or now_ms - tonumber(beat) > stale) then
    local mine = redis.call('HGETALL', counts)
    for j = 1, #mine, 2 do
      if redis.call('HINCRBY', KEYS[2], mine[j], -tonumber(mine[j + 1])) <= 0 then gone(mine[j]) end
    end
    redis.call('DEL', counts)
    redis.call('HDEL', KEYS[1], pid)
    reaped = reaped + 1
  end
end
if redis.call('HLEN', KEYS[1]) == 0 then
  for _, user in ipairs(redis.call('HKEYS', KEYS[2])) do gone(user) end
end
return reaped
