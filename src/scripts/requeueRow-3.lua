--[[
Moves an ended row (failed, usually) back to queued with a new generation, for `retry` and `resume`.
Refuses when a newer update for the key exists: that one wins, and the row becomes superseded.
A finished run that gets a row back is running again: its keys stop expiring until it finishes anew.
KEYS[1] run hash, KEYS[2] rows hash, KEYS[3] latest hash (keyed by keyDigest(key), includes/keyDigest.lua; an earlier
release's full-key entry is moved)
ARGV[1] line, ARGV[2] runId, ARGV[3] expected current state, ARGV[4] key prefix, ARGV[5] the run's key suffixes (space-separated)
Returns: requeued|<generation> | superseded | skip|<state>
]]
local runKey, rowsKey, latestKey = KEYS[1], KEYS[2], KEYS[3]
local line, runId, expected, prefix, suffixes = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local statsKey = prefix .. ':stats'

--- @include "decodeRow"

--- @include "keyDigest"

local json = redis.call('HGET', rowsKey, line)
if not json then return 'skip|missing' end
local row = decodeRow(json)
if row.state ~= expected then return 'skip|' .. row.state end

local field = keyDigest(row.key)
local latest = readEntry(latestKey, row.key, field, true)
local nextState = 'queued'
if latest then
  local lv, lrun, lline = string.match(latest, '^([^|]*)|([^|]*)|([^|]*)$')
  if lv > row.version then
    nextState = 'superseded'
    row.supersededBy = { runId = lrun, line = tonumber(lline) }
  end
end
if nextState == 'queued' then
  redis.call('HSET', latestKey, field, row.version .. '|' .. runId .. '|' .. line)
  row.generation = (row.generation or 0) + 1
  row.attemptsBefore = (row.attemptsBefore or 0) + (row.attempts or 0)
  row.httpStatus = nil
  row.reason = nil
  row.finishedAt = nil
  if redis.call('HGET', runKey, 'finishedAt') then
    redis.call('HDEL', runKey, 'finishedAt')
    redis.call('HINCRBY', statsKey, 'runs:open', 1)
    redis.call('PERSIST', runKey)
    for suffix in string.gmatch(suffixes, '%S+') do redis.call('PERSIST', runKey .. suffix) end
  end
end
row.state = nextState
redis.call('HSET', rowsKey, line, cjson.encode(row))
redis.call('HINCRBY', runKey, expected, -1)
redis.call('HINCRBY', runKey, nextState, 1)
redis.call('HINCRBY', statsKey, 'rows:' .. expected, -1)
-- The row leaves `expected`: counted, so that rows reached + rows left never goes down (compliance_sync_rows_total).
redis.call('HINCRBY', statsKey, 'rowsLeft:' .. expected, 1)
redis.call('HINCRBY', statsKey, 'rows:' .. nextState, 1)
if nextState == 'queued' then return 'requeued|' .. row.generation end
return 'superseded'
