-- restore_presence: register a web process in a session with the connections it holds there, or
-- replace its share with them.
--
-- KEYS[1] connections hash  {s:<sid>}:conns          user id -> open connections over live processes
-- KEYS[2] presence hash     {s:<sid>}:present        user id -> "joined_at_ms:left_at_ms"
-- KEYS[3] processes hash    {s:<sid>}:procs          process id -> last heartbeat ms
-- KEYS[4] this process's    {s:<sid>}:conns:<pid>    user id -> open connections on this process
-- ARGV[1] process id  ARGV[2] grace ms (as in join_room.lua)
-- ARGV[3] 1: replace the share of a registered process (its own count went wrong, e.g. a leave
--         was lost while Redis was out of reach); 0: do nothing when registered
-- ARGV[4..] user id, count, user id, count...
--
-- A process registers before its first join in a session (with no pairs), and again with every
-- connection it holds when its share was reaped although it lives (it missed heartbeats for
-- longer than the staleness). Returns 1 when the share was written, 0 when it was left alone.

local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local registered = redis.call('HGET', KEYS[3], ARGV[1])
if registered and ARGV[3] ~= '1' then return 0 end
redis.call('HSET', KEYS[3], ARGV[1], now_ms)

local function presence(user)
  local prior = redis.call('HGET', KEYS[2], user)
  if not prior then return nil, nil end
  local sep = string.find(prior, ':', 1, true)
  return tonumber(string.sub(prior, 1, sep - 1)), tonumber(string.sub(prior, sep + 1))
end

-- Take the old share out (none unless replacing), then put the new one in.
local old = redis.call('HGETALL', KEYS[4])
local dropped = {}
for i = 1, #old, 2 do
  if redis.call('HINCRBY', KEYS[1], old[i], -tonumber(old[i + 1])) <= 0 then
    redis.call('HDEL', KEYS[1], old[i])
    dropped[old[i]] = true
  end
end
redis.call('DEL', KEYS[4])
for i = 4, #ARGV, 2 do
  local user, count = ARGV[i], tonumber(ARGV[i + 1])
  redis.call('HSET', KEYS[4], user, count)
  if redis.call('HINCRBY', KEYS[1], user, count) == count and not dropped[user] then
    local joined, left = presence(user)
    if not joined or (left > 0 and now_ms - left > tonumber(ARGV[2])) then joined = now_ms end
    redis.call('HSET', KEYS[2], user, joined .. ':0')
  end
  dropped[user] = nil
end
for user in pairs(dropped) do
  local joined, left = presence(user)
  if joined and left == 0 then redis.call('HSET', KEYS[2], user, joined .. ':' .. now_ms) end
end
return 1
