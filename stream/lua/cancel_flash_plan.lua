-- cancel_flash_plan: take a pending flash plan off the queue; a plan whose start was claimed stays.
--
-- KEYS[1] the plan   {s:<sid>}:flash_plan:<pid>
-- KEYS[2] the queue  {s:<sid>}:flash_queue
-- ARGV[1] plan id
--
-- Returns 1 when cancelled now, 0 when it was already cancelled, -1 when it is starting or
-- started (too late), -2 when there is no such plan.

local state = redis.call('HGET', KEYS[1], 'state')
if not state then return -2 end
if state == 'cancelled' then return 0 end
if state ~= 'pending' then return -1 end
redis.call('HSET', KEYS[1], 'state', 'cancelled')
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
