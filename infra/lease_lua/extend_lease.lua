-- Extend a lease, only for the holder that owns it (compare-and-extend).
--
-- KEYS[1]  the lease key (a plain string key holding the holder's token)
-- ARGV[1]  the caller's token
-- ARGV[2]  the new lease from now, in milliseconds
--
-- Returns 1 when the caller held the lease (it now lasts ARGV[2] ms more),
--         0 when the key is gone (expired) or names another holder: the caller lost the lease
--           and must stop acting as its holder; nothing is changed.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
