-- draw_lucky_bag: draw a bag's winners exactly once, auditably.
--
-- KEYS[1] bag hash       {s:<sid>}:bag:<bid>
-- KEYS[2] entrants hash  {s:<sid>}:bag:<bid>:entrants
-- KEYS[3] event counter  {s:<sid>}:event_seq
-- KEYS[4] outbox stream  {s:<sid>}:outbox
-- ARGV[1] pub/sub channel  ARGV[2] seed (random hex from the caller)  ARGV[3] session id  ARGV[4] bag id
--
-- Winners are the min(winners, entrants) entrants with the smallest sha1(seed .. ':' .. user id):
-- a uniformly random subset for a random seed, and anyone holding the seed and the entrant
-- list can check the result. The first call after draw_at draws, publishes lucky_bag_result and
-- appends a bag_drawn entry (seed, entrants, winners) to the outbox for the SQL audit; later
-- calls change nothing.
-- Returns {1, winners_json} when this call drew, {0, winners_json} when already drawn,
-- {-1, ''} when it is too early, {-2, ''} when there is no such bag.

local bag = redis.call('HMGET', KEYS[1], 'status', 'draw_at', 'winners', 'result', 'title', 'prize_item_id', 'prize_points')
if not bag[1] then return {-2, ''} end
if bag[1] == 'drawn' then return {0, bag[4]} end
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now_ms < tonumber(bag[2]) then return {-1, ''} end

local users = redis.call('HKEYS', KEYS[2])
local ranked = {}
for i, user in ipairs(users) do
  ranked[i] = {redis.sha1hex(ARGV[2] .. ':' .. user), user}
end
table.sort(ranked, function(a, b) return a[1] < b[1] end)
local winners = {}
for i = 1, math.min(tonumber(bag[3]), #ranked) do winners[i] = ranked[i][2] end
table.sort(users)

local winners_json = cjson.encode(winners)
if #winners == 0 then winners_json = '[]' end  -- cjson encodes an empty table as {}
local entrants_json = cjson.encode(users)
if #users == 0 then entrants_json = '[]' end
redis.call('HSET', KEYS[1], 'status', 'drawn', 'seed', ARGV[2], 'result', winners_json,
  'entrant_count', #users, 'drawn_at', now_ms)
local seq = redis.call('INCR', KEYS[3])
redis.call('PUBLISH', ARGV[1], '{"seq":' .. seq .. ',"ts":' .. now_ms .. ',"type":"lucky_bag_result","bag_id":"'
  .. ARGV[4] .. '","winners":' .. winners_json .. ',"entrants":' .. #users .. '}')
redis.call('XADD', KEYS[4], '*', 'event', 'bag_drawn', 'session', ARGV[3], 'bag', ARGV[4],
  'title', bag[5] or '', 'seed', ARGV[2], 'entrants', entrants_json, 'winners', winners_json,
  'prize_item', bag[6] or '', 'prize_points', bag[7] or '0', 'ts', now_ms)
return {1, winners_json}
