-- release_order: give an order's units back to stock, exactly once.
--
-- KEYS[1] orders hash    {s:<sid>}:orders
-- KEYS[2] item hash      {s:<sid>}:item:<iid> of the order's item
-- KEYS[3] bought hash    {s:<sid>}:bought:<iid>
-- KEYS[4] outbox stream  {s:<sid>}:outbox
-- ARGV[1] session id  ARGV[2] order id  ARGV[3] item id the caller read for this order
-- ARGV[4] why (cancel, hold_expired, unpaid, ...)
--
-- Returns {1, left} when the units went back, {0, reason} otherwise;
-- reason is unknown_order, already_released, confirmed (a confirmed hold stays) or wrong_item.

local raw = redis.call('HGET', KEYS[1], ARGV[2])
if not raw then return {0, 'unknown_order'} end
local order = cjson.decode(raw)
if order.item ~= ARGV[3] then return {0, 'wrong_item'} end
if order.status == 'confirmed' then return {0, 'confirmed'} end
if order.status ~= 'reserved' then return {0, 'already_released'} end

order.status = 'released'
redis.call('HSET', KEYS[1], ARGV[2], cjson.encode(order))
local left = redis.call('HINCRBY', KEYS[2], 'left', order.qty)
redis.call('HINCRBY', KEYS[2], 'sold', -order.qty)
local held = redis.call('HINCRBY', KEYS[3], order.user, -order.qty)
if held <= 0 then redis.call('HDEL', KEYS[3], order.user) end

local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- The release carries the whole order so the SQL side can write it even if the
-- reservation's own entry is still pending in a crashed consumer.
redis.call('XADD', KEYS[4], '*',
  'event', 'released', 'order', ARGV[2], 'session', ARGV[1], 'item', order.item,
  'user', order.user, 'qty', order.qty, 'price', order.price, 'kind', order.kind,
  'rid', order.rid, 'ts', order.ts, 'changed_ts', now_ms, 'why', ARGV[4])
return {1, left}
