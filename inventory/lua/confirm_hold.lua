-- confirm_hold: a resident's one tap that keeps a hold placed for their wish.
--
-- KEYS[1] orders hash    {s:<sid>}:orders
-- KEYS[2] outbox stream  {s:<sid>}:outbox
-- ARGV[1] session id  ARGV[2] order id  ARGV[3] user id of the caller
--
-- Returns {1, 'confirmed'} (also when it was confirmed before), or {0, reason}; reason is
-- unknown_order (none, or not this user's), not_a_hold, or released (too late: it went back to stock).

local raw = redis.call('HGET', KEYS[1], ARGV[2])
if not raw then return {0, 'unknown_order'} end
local order = cjson.decode(raw)
if order.user ~= ARGV[3] then return {0, 'unknown_order'} end
if order.kind ~= 'hold' then return {0, 'not_a_hold'} end
if order.status == 'confirmed' then return {1, 'confirmed'} end
if order.status ~= 'reserved' then return {0, 'released'} end
order.status = 'confirmed'
redis.call('HSET', KEYS[1], ARGV[2], cjson.encode(order))
local t = redis.call('TIME')
-- Like a release, the entry carries the whole order, so SQL ends right in any replay order.
redis.call('XADD', KEYS[2], '*', 'event', 'confirmed', 'order', ARGV[2], 'session', ARGV[1],
  'item', order.item, 'user', order.user, 'qty', order.qty, 'price', order.price, 'kind', order.kind,
  'rid', order.rid, 'ts', order.ts, 'changed_ts', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
return {1, 'confirmed'}
