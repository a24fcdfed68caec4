--[[
Releases a lock, only for its holder: a holder whose lock expired and was taken must not free the new holder's.
KEYS[1] lock key; ARGV[1] owner token
Returns: 1 released | 0 not ours (gone or taken)
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
