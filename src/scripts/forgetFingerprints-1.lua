--[[
Forgets what the change-detection memory says Graph holds, for keys `verify` found drifted or missing, so the next
plain import sends them again. Only when the memory still holds what the verified row recorded: a newer successful
PATCH since then proved something else, and stays.
KEYS[1] fingerprints hash (its fields are keyDigest(key), or the key itself as releases before the digest wrote it:
includes/keyDigest.lua)
ARGV pairs: key, expected "<fingerprint>|<version>", or "<fingerprint>|" (a row stored without its version, see
src/redis-layout.ts) to forget whatever version recorded those same values
Returns: how many were forgotten.
]]
--- @include "keyDigest"

local forgotten = 0
for i = 1, #ARGV, 2 do
  local key, expected = ARGV[i], ARGV[i + 1]
  local field = keyDigest(key)
  local held = readEntry(KEYS[1], key, field, true)
  if held and (held == expected or (string.sub(expected, -1) == '|' and string.sub(held, 1, #expected) == expected)) then
    deleteEntry(KEYS[1], key, field)
    forgotten = forgotten + 1
  end
end
return forgotten
