-- Give a lease up, only for the holder that owns it (compare-and-delete).
--
-- KEYS[1]  the lease key
-- ARGV[1]  the caller's token
--
-- Returns 1 when the caller held the lease and it is now free for anyone to take,
--         0 when it had already expired or been taken by another holder (left as it is).
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
