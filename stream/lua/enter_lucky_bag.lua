-- enter_lucky_bag: enter a resident into an open lucky bag if they may.
--
-- KEYS[1] bag hash          {s:<sid>}:bag:<bid>   status, draw_at, passphrase, min_watch_ms
-- KEYS[2] entrants hash     {s:<sid>}:bag:<bid>:entrants  user id -> entered_at_ms
-- KEYS[3] connections hash  {s:<sid>}:conns
-- KEYS[4] presence hash     {s:<sid>}:present
-- ARGV[1] user id  ARGV[2] passphrase the user sent ('' when none)
--
-- Returns {1, 'entered'} or {1, 'already_entered'}, or {0, reason, detail}; reason is
-- unknown_bag, bag_closed, not_present, watch_longer (detail: seconds still to watch),
-- passphrase_required or wrong_passphrase.

local bag = redis.call('HMGET', KEYS[1], 'status', 'draw_at', 'passphrase', 'min_watch_ms')
if not bag[1] then return {0, 'unknown_bag', 0} end
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if bag[1] ~= 'open' or now_ms >= tonumber(bag[2]) then return {0, 'bag_closed', 0} end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return {1, 'already_entered'} end
if tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0') <= 0 then return {0, 'not_present', 0} end
local presence = redis.call('HGET', KEYS[4], ARGV[1]) or (now_ms .. ':0')
local joined = tonumber(string.sub(presence, 1, string.find(presence, ':', 1, true) - 1))
local need = tonumber(bag[4] or '0')
if now_ms - joined < need then
  return {0, 'watch_longer', math.ceil((need - (now_ms - joined)) / 1000)}
end
if bag[3] and bag[3] ~= '' then
  if ARGV[2] == '' then return {0, 'passphrase_required', 0} end
  if ARGV[2] ~= bag[3] then return {0, 'wrong_passphrase', 0} end
end
redis.call('HSET', KEYS[2], ARGV[1], now_ms)
return {1, 'entered'}
