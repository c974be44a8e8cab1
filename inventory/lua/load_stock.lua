-- load_stock: create an item's stock in a session, or add units to it (restock).
--
-- KEYS[1] items set   {s:<sid>}:items  ids of the session's items
-- KEYS[2] item hash   {s:<sid>}:item:<iid>
-- ARGV[1] item id  ARGV[2] units to add (>= 0)  ARGV[3] per-user limit (0 = none)
-- ARGV[4] price in cents
--
-- Returns {left, created}: units now left, and 1 when the item was new.

local add = tonumber(ARGV[2])
local created = 0
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('HSET', KEYS[2], 'left', 0, 'sold', 0, 'on_sale', 0, 'ends_at', 0)
  redis.call('SADD', KEYS[1], ARGV[1])
  created = 1
end
redis.call('HSET', KEYS[2], 'limit', ARGV[3], 'price', ARGV[4])
local left = redis.call('HINCRBY', KEYS[2], 'left', add)
return {left, created}
