-- report_viewers: record one web process's viewer count for a session and publish the total
-- when it changed. Counts from processes that stopped reporting are dropped.
--
-- KEYS[1] viewers hash   {s:<sid>}:viewers  process id -> "count:reported_at_ms", and _last
-- KEYS[2] event counter  {s:<sid>}:event_seq
-- KEYS[3] history stream {s:<sid>}:history  (as publish_event.lua keeps it)
-- ARGV[1] shard channel {s:<sid>}:events: SPUBLISH, so it shares the KEYS' hash tag and slot
-- ARGV[2] process id  ARGV[3] this process's count  ARGV[4] staleness ms
-- ARGV[5] history length kept
--
-- Returns the total count over live processes.

local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if tonumber(ARGV[3]) > 0 then
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3] .. ':' .. now_ms)
else
  redis.call('HDEL', KEYS[1], ARGV[2])
end
local total = 0
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local field, value = all[i], all[i + 1]
  if field ~= '_last' then
    local sep = string.find(value, ':', 1, true)
    local count, at = tonumber(string.sub(value, 1, sep - 1)), tonumber(string.sub(value, sep + 1))
    if now_ms - at > tonumber(ARGV[4]) then
      redis.call('HDEL', KEYS[1], field)
    else
      total = total + count
    end
  end
end
local last = tonumber(redis.call('HGET', KEYS[1], '_last') or '-1')
if last ~= total then
  redis.call('HSET', KEYS[1], '_last', total)
  local seq = redis.call('INCR', KEYS[2])
  local text = '{"seq":' .. seq .. ',"ts":' .. now_ms .. ',"type":"viewers","count":' .. total .. '}'
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], seq .. '-0', 'e', text)
  redis.call('SPUBLISH', ARGV[1], text)
end
return total
