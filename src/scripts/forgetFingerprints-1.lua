--[[
Forgets what the change-detection memory says Graph holds, for keys `verify` found drifted or missing, so the next
plain import sends them again. Only when the memory still holds what the verified row recorded: a newer successful
PATCH since then proved something else, and stays.
KEYS[1] fingerprints hash
ARGV pairs: key, expected "<fingerprint>|<version>"
Returns: how many were forgotten.
]]
local forgotten = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
    forgotten = forgotten + 1
  end
end
return forgotten
