-- publish_stock: tell every viewer how many units of an item are left, at most once per interval.
--
-- KEYS[1] item hash      {s:<sid>}:item:<iid>   (read only: the count published is the current one)
-- KEYS[2] gate key       {s:<sid>}:stock_gate:<iid>  exists while the interval runs
-- KEYS[3] event counter  {s:<sid>}:event_seq
-- KEYS[4] history stream {s:<sid>}:history  (as publish_event.lua keeps it)
-- ARGV[1] shard channel {s:<sid>}:events: SPUBLISH, so it shares the KEYS' hash tag and slot
-- ARGV[2] item id  ARGV[3] interval in ms  ARGV[4] 1 to publish even inside the interval
-- ARGV[5] history length kept
--
-- Returns the units left that were published, or -1 when the gate held it back
-- (the caller keeps the item marked and tries again on its next tick).

if ARGV[4] ~= '1' and redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
redis.call('SET', KEYS[2], 1, 'PX', ARGV[3])
local left = tonumber(redis.call('HGET', KEYS[1], 'left') or '0')
local seq = redis.call('INCR', KEYS[3])
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local text = '{"seq":' .. seq .. ',"ts":' .. now_ms .. ',"type":"stock","item_id":"' .. ARGV[2] .. '","left":' .. left .. '}'
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[5], seq .. '-0', 'e', text)
redis.call('SPUBLISH', ARGV[1], text)
return left
