-- draw_lucky_bag: record a bag's draw exactly once, publish it with the seed revealed, and audit it.
--
-- KEYS[1] bag hash       {s:<sid>}:bag:<bid>   status, draw_at, winners (prizes), seed, seed_hash, ...
-- KEYS[2] entrants hash  {s:<sid>}:bag:<bid>:entrants
-- KEYS[3] event counter  {s:<sid>}:event_seq
-- KEYS[4] outbox stream  {s:<sid>}:outbox
-- KEYS[5] history stream {s:<sid>}:history  (as publish_event.lua keeps it)
-- ARGV[1] shard channel {s:<sid>}:events: SPUBLISH, so it shares the KEYS' hash tag and slot
-- ARGV[2] session id  ARGV[3] bag id
-- ARGV[4] the seed the caller drew with (the bag's own; a bag opened before seeds were kept has none)
-- ARGV[5] how many entrants the caller drew from  ARGV[6] winners (JSON list)
-- ARGV[7] entrants (sorted JSON list)  ARGV[8] options (JSON, stream.fairness.DrawOptions)
-- ARGV[9] rule  ARGV[10] undrawn prizes  ARGV[11] history length kept
--
-- The winners are computed by the caller (stream.fairness: SHA-256, which Redis's Lua lacks) from
-- the entrants it read after draw_at. Entering closes at draw_at and entrants are never removed,
-- so the same count means the same entrants; a different count means the caller read too early.
-- The first call that agrees draws: publishes lucky_bag_result (seed revealed) and appends a
-- bag_drawn entry to the outbox for the SQL audit; later calls change nothing.
-- Returns {1, winners_json} when this call drew, {0, winners_json} when already drawn,
-- {-1, ''} when it is too early, {-2, ''} when there is no such bag, {-3, ''} when the entrants
-- differ from the caller's (read them again), {-4, ''} when the seed is not the bag's.

local bag = redis.call('HMGET', KEYS[1], 'status', 'draw_at', 'winners', 'result', 'title', 'prize_item_id',
  'prize_points', 'seed', 'seed_hash')
if not bag[1] then return {-2, ''} end
if bag[1] == 'drawn' then return {0, bag[4]} end
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now_ms < tonumber(bag[2]) then return {-1, ''} end
if redis.call('HLEN', KEYS[2]) ~= tonumber(ARGV[5]) then return {-3, ''} end
if bag[8] and bag[8] ~= ARGV[4] then return {-4, ''} end
local seed_hash = bag[9] or ''

redis.call('HSET', KEYS[1], 'status', 'drawn', 'seed', ARGV[4], 'result', ARGV[6], 'entrant_count', ARGV[5],
  'drawn_at', now_ms, 'rule', ARGV[9], 'undrawn', ARGV[10], 'options', ARGV[8])
local seq = redis.call('INCR', KEYS[3])
local text = '{"seq":' .. seq .. ',"ts":' .. now_ms .. ',"type":"lucky_bag_result","bag_id":"' .. ARGV[3]
  .. '","entrants":' .. ARGV[5] .. ',"winners":' .. ARGV[6] .. ',"seed":"' .. ARGV[4] .. '","seed_hash":"'
  .. seed_hash .. '","rule":"' .. ARGV[9] .. '","prizes":' .. bag[3] .. ',"undrawn":' .. ARGV[10] .. '}'
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[11], seq .. '-0', 'e', text)
redis.call('SPUBLISH', ARGV[1], text)
redis.call('XADD', KEYS[4], '*', 'event', 'bag_drawn', 'session', ARGV[2], 'bag', ARGV[3],
  'title', bag[5] or '', 'seed', ARGV[4], 'entrants', ARGV[7], 'winners', ARGV[6],
  'prize_item', bag[6] or '', 'prize_points', bag[7] or '0', 'ts', now_ms,
  'seed_hash', seed_hash, 'rule', ARGV[9], 'options', ARGV[8])
return {1, ARGV[6]}
