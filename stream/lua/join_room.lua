-- join_room / presence: count a user's open connections and remember since when they watch.
--
-- KEYS[1] connections hash  {s:<sid>}:conns    user id -> open connections
-- KEYS[2] presence hash     {s:<sid>}:present  user id -> "joined_at_ms:left_at_ms" (left_at 0 while present)
-- ARGV[1] user id  ARGV[2] +1 on join, -1 on leave  ARGV[3] grace ms: a reconnect within it keeps
--         the original joined_at, so a phone's network blip does not reset watch time
--
-- Returns the user's open connections after the change.

local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local conns = redis.call('HINCRBY', KEYS[1], ARGV[1], tonumber(ARGV[2]))
local prior = redis.call('HGET', KEYS[2], ARGV[1])
local joined, left = now_ms, 0
if prior then
  local sep = string.find(prior, ':', 1, true)
  joined, left = tonumber(string.sub(prior, 1, sep - 1)), tonumber(string.sub(prior, sep + 1))
end
if conns <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('HSET', KEYS[2], ARGV[1], joined .. ':' .. now_ms)
  return 0
end
if conns == 1 and tonumber(ARGV[2]) > 0 then
  if not prior or (left > 0 and now_ms - left > tonumber(ARGV[3])) then joined = now_ms end
  redis.call('HSET', KEYS[2], ARGV[1], joined .. ':0')
end
return conns
