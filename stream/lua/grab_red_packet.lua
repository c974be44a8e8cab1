-- grab_red_packet: give the next pre-split share of a points red packet to a present resident, once.
--
-- KEYS[1] shares list       {s:<sid>}:packet:<pid>:shares  (split when the packet was made)
-- KEYS[2] takers hash       {s:<sid>}:packet:<pid>:takers  user id -> points
-- KEYS[3] connections hash  {s:<sid>}:conns
-- KEYS[4] outbox stream     {s:<sid>}:outbox
-- ARGV[1] user id  ARGV[2] session id  ARGV[3] packet id
--
-- Returns {1, points, repeated} or {0, reason}; reason is empty (all shares taken) or not_present.
-- Each share is appended to the outbox as a points entry, written to the points ledger once.

local prior = redis.call('HGET', KEYS[2], ARGV[1])
if prior then return {1, tonumber(prior), 1} end
if tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0') <= 0 then return {0, 'not_present'} end
local share = redis.call('LPOP', KEYS[1])
if not share then return {0, 'empty'} end
redis.call('HSET', KEYS[2], ARGV[1], share)
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('XADD', KEYS[4], '*', 'event', 'points', 'id', 'rp:' .. ARGV[3] .. ':' .. ARGV[1],
  'session', ARGV[2], 'user', ARGV[1], 'points', share, 'reason', 'red_packet', 'ts', now_ms)
return {1, tonumber(share), 0}
