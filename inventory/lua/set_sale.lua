-- set_sale: open or close an item's sale; both are idempotent.
--
-- KEYS[1] item hash  {s:<sid>}:item:<iid>
-- ARGV[1] 1 to open, 0 to close
-- ARGV[2] open: deadline in epoch ms (0 = none)
--         close: the deadline this close is for, or '' to close whatever is open.
--         A timer for an old flash sale passes its own deadline, so it can never
--         close a newer sale of the same item.
-- ARGV[3] open: price in cents for this sale, or '' to keep the price
-- ARGV[4] open: per-user limit for this sale, or '' to keep the limit
--
-- Returns {changed, on_sale}: changed is 1 when this call changed the state,
-- or {-1, 0} when the item does not exist.

if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, 0} end
local state = redis.call('HMGET', KEYS[1], 'on_sale', 'ends_at')
if ARGV[1] == '1' then
  if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'price', ARGV[3]) end
  if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'limit', ARGV[4]) end
  if state[1] == '1' and state[2] == ARGV[2] then return {0, 1} end
  redis.call('HSET', KEYS[1], 'on_sale', 1, 'ends_at', ARGV[2])
  return {1, 1}
end
if state[1] ~= '1' then return {0, 0} end
if ARGV[2] ~= '' and state[2] ~= ARGV[2] then return {0, 1} end
redis.call('HSET', KEYS[1], 'on_sale', 0)
return {1, 0}
