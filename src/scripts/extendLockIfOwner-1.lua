--[[
Extends a lock's TTL, only for its holder: a holder that lost it (paused past its TTL) must not revive someone else's.
KEYS[1] lock key; ARGV[1] owner token, ARGV[2] new TTL (ms)
Returns: 1 extended | 0 not ours (gone or taken)
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
