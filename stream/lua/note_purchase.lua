-- note_purchase: remember successful grabs (one, or a batch of them) for the purchase ticker and
-- the host's live chart.
--
-- KEYS[1] ticker buyers list  {s:<sid>}:ticker:buyers   user ids not yet announced, oldest first
-- KEYS[2] grabs per second    {s:<sid>}:insight:grabs    epoch second -> grabs that second
-- KEYS[3] revenue per second  {s:<sid>}:insight:revenue  epoch second -> cents taken that second
-- KEYS[4..3+m] the stock hash of each item bought in the batch  {s:<sid>}:item:<iid>
--         (read for its current price only)
-- ARGV[1] most buyers kept waiting for the ticker  ARGV[2] n, the number of grabs in the batch
-- ARGV[3..2+n] the buyers' user ids, in the order their grabs succeeded
-- ARGV[3+n..2+n+m] units bought of each item of KEYS[4..]
--
-- Returns the second the grabs were counted in. Called after the reserves succeeded, so a crash
-- in between can only leave grabs out of the ticker, never add one that did not happen.

local t = redis.call('TIME')
local second = t[1]
local n = tonumber(ARGV[2])
-- In slices: unpack() of a very large batch would overflow Lua's stack.
for first = 3, 2 + n, 1000 do
  redis.call('RPUSH', KEYS[1], unpack(ARGV, first, math.min(first + 999, 2 + n)))
end
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[1]), -1)
redis.call('HINCRBY', KEYS[2], second, n)
local revenue = 0
for i = 4, #KEYS do
  local price = tonumber(redis.call('HGET', KEYS[i], 'price') or '0')
  revenue = revenue + price * tonumber(ARGV[n + i - 1])
end
redis.call('HINCRBY', KEYS[3], second, revenue)
return tonumber(second)
