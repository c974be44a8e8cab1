-- note_purchase: remember one successful grab for the purchase ticker and the host's live chart.
--
-- KEYS[1] ticker buyers list  {s:<sid>}:ticker:buyers   user ids not yet announced, oldest first
-- KEYS[2] grabs per second    {s:<sid>}:insight:grabs    epoch second -> grabs that second
-- KEYS[3] revenue per second  {s:<sid>}:insight:revenue  epoch second -> cents taken that second
-- KEYS[4] the item's stock    {s:<sid>}:item:<iid>       read for its current price only
-- ARGV[1] the buyer's user id  ARGV[2] units bought  ARGV[3] most buyers kept waiting for the ticker
--
-- Returns the second the grab was counted in. Called after the reserve succeeded, so a crash in
-- between can only leave a grab out of the ticker, never add one that did not happen.

local t = redis.call('TIME')
local second = t[1]
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[3]), -1)
redis.call('HINCRBY', KEYS[2], second, 1)
local price = tonumber(redis.call('HGET', KEYS[4], 'price') or '0')
redis.call('HINCRBY', KEYS[3], second, price * tonumber(ARGV[2]))
return tonumber(second)
