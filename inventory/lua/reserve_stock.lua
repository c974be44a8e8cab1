-- reserve_stock: take qty units of one item for one user, atomically, at most once per request id.
--
-- KEYS[1] item hash      {s:<sid>}:item:<iid>   fields left, sold, limit, price, on_sale, ends_at
-- KEYS[2] bought hash    {s:<sid>}:bought:<iid> user id -> units held
-- KEYS[3] request key    {s:<sid>}:req:<uid>:<rid> remembers the first answer
--         (a proxy's requests: {s:<sid>}:req:<uid>~<proxy>:<rid>, apart from the user's own)
-- KEYS[4] orders hash    {s:<sid>}:orders       order id -> JSON of the order
-- KEYS[5] order counter  {s:<sid>}:seq
-- KEYS[6] outbox stream  {s:<sid>}:outbox
-- KEYS[7] user's orders  {s:<sid>}:user_orders:<uid>  list of the user's order ids
-- ARGV[1] session id  ARGV[2] item id  ARGV[3] user id  ARGV[4] qty (positive integer)
-- ARGV[5] request id  ARGV[6] kind: grab (needs an open sale and obeys the limit),
--         hold or prize (placed by the system; prize orders cost 0)
-- ARGV[7] seconds to remember the request id
-- ARGV[8] the grid worker who grabs for the user ('' or absent when the user grabs herself)
-- KEYS[8..7+n] (grabs only, optional) the caller's grab rate limits, one GCRA cell each
--         ({s:<sid>}:limit:grab:user:<id>:<rule no.>, ...:address:<ip>:<rule no.>): a number, the
--         theoretical arrival time in ms, expiring when the bucket is full again
-- ARGV[7+2i], ARGV[8+2i] for cell i: T/n in ms (the emission interval) and T in ms (the window)
--         of its limit "n per T": n grabs may come at once, then one per T/n
--
-- Returns {1, order_id, left, repeated} on success,
--         {0, reason, left, repeated} otherwise; reason is sold_out, not_enough, limit,
--         not_on_sale, unknown_item or bad_qty. repeated is 1 when the request id was seen
--         before: the first answer comes back and nothing changes (and no rate limit is charged,
--         so a batch resent after a broken connection answers as it did).
--         {0, 'rate_limited', 0, 0, i, retry_after_ms} when rate limit cell i refuses the grab:
--         nothing is charged or remembered, and the same request id may be sent again later.
-- The rate limits are checked, and charged, before anything else about the grab, so a grab that
-- is then refused (sold out, not on sale, ...) still counts against them.

local seen = redis.call('GET', KEYS[3])
if seen then
  local left = tonumber(redis.call('HGET', KEYS[1], 'left') or '0')
  if string.sub(seen, 1, 3) == 'ok:' then
    return {1, string.sub(seen, 4), left, 1}
  end
  return {0, seen, left, 1}
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local now_ms = math.floor(now)

local cells = #KEYS - 7
if cells > 0 and ARGV[6] == 'grab' then
  -- Every cell is checked before any is charged: a refused grab costs nothing.
  local next_tat = {}
  for i = 1, cells do
    local interval, window = tonumber(ARGV[7 + 2 * i]), tonumber(ARGV[8 + 2 * i])
    local tat = tonumber(redis.call('GET', KEYS[7 + i]) or '0')
    if tat < now then tat = now end
    local allow_at = tat + interval - window
    if now < allow_at then return {0, 'rate_limited', 0, 0, i, math.ceil(allow_at - now)} end
    next_tat[i] = tat + interval
  end
  for i = 1, cells do
    redis.call('SET', KEYS[7 + i], string.format('%.3f', next_tat[i]), 'PX', math.ceil(next_tat[i] - now) + 1)
  end
end

local qty = tonumber(ARGV[4])
if not qty or qty < 1 or qty ~= math.floor(qty) then
  return {0, 'bad_qty', 0, 0}
end

local item = redis.call('HMGET', KEYS[1], 'left', 'limit', 'on_sale', 'ends_at', 'price')
if not item[1] then
  -- Nothing to remember: the id may be retried once the item exists.
  return {0, 'unknown_item', 0, 0}
end

local left = tonumber(item[1])
local kind = ARGV[6]

local reason = nil
if kind == 'grab' then
  local ends_at = tonumber(item[4] or '0')
  if item[3] ~= '1' or (ends_at > 0 and now_ms >= ends_at) then
    reason = 'not_on_sale'
  end
end
if not reason then
  if left <= 0 then
    reason = 'sold_out'
  elseif left < qty then
    reason = 'not_enough'
  end
end
local held = tonumber(redis.call('HGET', KEYS[2], ARGV[3]) or '0')
if not reason and kind == 'grab' then
  local limit = tonumber(item[2] or '0')
  if limit > 0 and held + qty > limit then
    reason = 'limit'
  end
end
if reason then
  redis.call('SET', KEYS[3], reason, 'EX', ARGV[7])
  return {0, reason, left, 0}
end

left = left - qty
redis.call('HSET', KEYS[1], 'left', left)
redis.call('HINCRBY', KEYS[1], 'sold', qty)
redis.call('HINCRBY', KEYS[2], ARGV[3], qty)

local order_id = ARGV[1] .. '-' .. redis.call('INCR', KEYS[5])
local proxy = ARGV[8] or ''
local price = tonumber(item[5] or '0')
if kind == 'prize' then price = 0 end

redis.call('HSET', KEYS[4], order_id, cjson.encode({
  item = ARGV[2], user = ARGV[3], qty = qty, price = price, kind = kind,
  status = 'reserved', rid = ARGV[5], ts = now_ms}))
redis.call('XADD', KEYS[6], '*',
  'event', 'reserved', 'order', order_id, 'session', ARGV[1], 'item', ARGV[2],
  'user', ARGV[3], 'qty', qty, 'price', price, 'kind', kind, 'rid', ARGV[5], 'ts', now_ms, 'proxy', proxy)
redis.call('RPUSH', KEYS[7], order_id)
redis.call('SET', KEYS[3], 'ok:' .. order_id, 'EX', ARGV[7])
return {1, order_id, left, 0}
