-- beat_presence: a web process's heartbeat in one session, naming the processes that stopped beating.
--
-- KEYS[1] processes hash  {s:<sid>}:procs  process id -> last heartbeat ms
-- ARGV[1] process id  ARGV[2] staleness ms: a process silent this long is presumed dead
--
-- Returns {registered, stale process id, ...}: registered is 1 when ARGV[1] was registered (its
-- heartbeat is renewed), 0 when it was not (it must register again with restore_presence.lua,
-- nothing changed); the stale ids are for reap_presence.lua, which checks them again.

local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {0}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if all[i] == ARGV[1] then
    out[1] = 1
  elseif now_ms - tonumber(all[i + 1]) > tonumber(ARGV[2]) then
    out[#out + 1] = all[i]
  end
end
if out[1] == 1 then redis.call('HSET', KEYS[1], ARGV[1], now_ms) end
return out
