--[[
Replaces what a listing gave for some user statuses of a snapshot with what a GET of each one answered (the listing
gave null for a property the GET holds, see src/producer/reconcile.ts confirmNulls), so a later import within
SYNC_SNAPSHOT_MAX_AGE that reuses the snapshot needs no GET again. Only where the snapshot still holds exactly what
was listed: an entry marked "?" (queued to be written since) or replaced by a newer read stays as it is.
KEYS[1] snapshot hash (P:snapshot:..., src/redis-layout.ts)
ARGV triples: userStatusId, the JSON the listing gave, the JSON the GET answered ('' when the GET answered 404: the
entry is removed, Graph no longer holds it)
Returns: how many entries were replaced.
]]
local replaced = 0
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 1, #ARGV, 3 do
  local id, listed, confirmed = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if redis.call('HGET', KEYS[1], id) == listed then
    if confirmed == '' then redis.call('HDEL', KEYS[1], id) else redis.call('HSET', KEYS[1], id, confirmed) end
    replaced = replaced + 1
  end
end
return replaced
