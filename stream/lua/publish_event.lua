-- publish_event: number an event and publish it, in one step, so seq order is publication order
-- across every web process.
--
-- KEYS[1] event counter  {s:<sid>}:event_seq
-- ARGV[1] pub/sub channel  ARGV[2] the event as a JSON object (starting with '{')
--
-- Returns the event's seq. The published text is the object with "seq" and "ts" put first.

local seq = redis.call('INCR', KEYS[1])
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('PUBLISH', ARGV[1], '{"seq":' .. seq .. ',"ts":' .. now_ms .. ',' .. string.sub(ARGV[2], 2))
return seq
