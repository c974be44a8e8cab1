-- publish_event: number an event, keep it in the session's history and publish it, in one step, so
-- seq order is publication order across every web process and the history has every event.
--
-- KEYS[1] event counter  {s:<sid>}:event_seq
-- KEYS[2] history stream {s:<sid>}:history   entry id <seq>-0, field e = the published text
-- ARGV[1] shard channel {s:<sid>}:events: SPUBLISH, so it shares the KEYS' hash tag and slot
-- ARGV[2] the event as a JSON object (starting with '{')
-- ARGV[3] history length kept (XADD MAXLEN ~: at least this many, trimmed a node at a time)
--
-- Returns the event's seq. The published text is the object with "seq" and "ts" put first.

local seq = redis.call('INCR', KEYS[1])
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local text = '{"seq":' .. seq .. ',"ts":' .. now_ms .. ',' .. string.sub(ARGV[2], 2)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], seq .. '-0', 'e', text)
redis.call('SPUBLISH', ARGV[1], text)
return seq
