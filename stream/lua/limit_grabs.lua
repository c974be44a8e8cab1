-- limit_grabs: count one grab against every rate limit of its user and address in a sale, or refuse it.
--
-- Each limit "n per T" is a GCRA cell (generic cell rate algorithm, a token bucket of n that
-- refills n per T, kept as one timestamp): n grabs may come at once, then one per T/n.
-- KEYS[i]   the limit's state  {s:<sid>}:limit:grab:user:<user id> / ...:address:<ip>:<rule no.>
--           (a number: the theoretical arrival time in ms; expires when the bucket is full again)
-- ARGV[2i-1] T/n in ms (the emission interval)  ARGV[2i] T in ms (the window)
--
-- All limits are checked before any is charged: a refused grab costs nothing.
-- Returns {0, 0} when the grab may go ahead, or {i, retry_after_ms} naming the first limit
-- (its KEYS index) that refuses and when it would let a grab through.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local next_tat = {}
for i = 1, #KEYS do
  local interval, window = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat < now then tat = now end
  local allow_at = tat + interval - window
  if now < allow_at then return {i, math.ceil(allow_at - now)} end
  next_tat[i] = tat + interval
end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], string.format('%.3f', next_tat[i]), 'PX', math.ceil(next_tat[i] - now) + 1)
end
return {0, 0}
