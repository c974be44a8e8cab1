-- finish_flash_plan: mark a claimed flash plan started, once its sale is open and announced.
--
-- KEYS[1] the plan   {s:<sid>}:flash_plan:<pid>
-- KEYS[2] the queue  {s:<sid>}:flash_queue       plan id -> starts_at, pending plans only
-- ARGV[1] process id (must hold the claim)  ARGV[2] plan id
--
-- Returns 1 when marked started now, 0 when this process no longer holds the claim.

local f = redis.call('HMGET', KEYS[1], 'state', 'claimed_by')
if f[1] ~= 'starting' or f[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'started')
redis.call('ZREM', KEYS[2], ARGV[2])
return 1
