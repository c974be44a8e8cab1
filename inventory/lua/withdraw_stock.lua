-- withdraw_stock: take units out of an item's stock for good (a supplier delivers fewer than it
-- was ordered), at most once per request id. Units already reserved stay with their orders.
--
-- KEYS[1] item hash    {s:<sid>}:item:<iid>   field left
-- KEYS[2] request key  {s:<sid>}:req:<uid>:<rid> remembers the first answer
-- ARGV[1] qty (positive integer)  ARGV[2] seconds to remember the request id
--
-- Returns {taken, left, repeated}: taken is qty, or what was left when that was less;
-- repeated is 1 when the request id was seen before: the first answer's taken comes back and
-- nothing changes. {-1, 0, 0} when the item does not exist (nothing is remembered then).

local seen = redis.call('GET', KEYS[2])
if seen then
  return {tonumber(seen), tonumber(redis.call('HGET', KEYS[1], 'left') or '0'), 1}
end
local left = redis.call('HGET', KEYS[1], 'left')
if not left then return {-1, 0, 0} end
left = tonumber(left)
local take = math.min(tonumber(ARGV[1]), math.max(left, 0))
if take > 0 then left = redis.call('HINCRBY', KEYS[1], 'left', -take) end
redis.call('SET', KEYS[2], take, 'EX', ARGV[2])
return {take, left, 0}
