-- tick_session: one ticker beat of a session, taken by at most one web process per interval.
--
-- KEYS[1] ticker lock         {s:<sid>}:ticker:lock       the process id holding this beat
-- KEYS[2] ticker buyers list  {s:<sid>}:ticker:buyers     drained here
-- KEYS[3] viewers hash        {s:<sid>}:viewers           its _last field is the published total
-- KEYS[4] viewer samples      {s:<sid>}:insight:viewers   epoch second -> viewers then
-- ARGV[1] process id  ARGV[2] the beat's length in ms (the lock's lifetime)
--
-- Returns false when another process holds this beat; otherwise the buyers since the last beat
-- (user ids, oldest first, possibly none), taken out of the list in the same step, so no buyer is
-- announced twice. The total viewers are sampled into KEYS[4] at the same time.

if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return false
end
local t = redis.call('TIME')
redis.call('HSET', KEYS[4], t[1], tonumber(redis.call('HGET', KEYS[3], '_last') or '0'))
local buyers = redis.call('LRANGE', KEYS[2], 0, -1)
redis.call('DEL', KEYS[2])
return buyers
