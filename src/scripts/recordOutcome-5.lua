#!lua flags=allow-oom
--[[
Records the final state of one or more rows (a worker's outcomes that finished together), each exactly once, and moves
their runs' counters (and the fleet's stats) with them: the counters, the timeline and the look at whether a run is
done cost one command per run and state of the batch, not per row.
Allowed when Redis is out of memory (allow-oom): a finished row is smaller than the waiting one it replaces
together with its job, so recording outcomes is how a full Redis drains, and an outcome must never be lost.
KEYS[1] latest hash, KEYS[2] fingerprints hash (both keyed by keyDigest(key), includes/keyDigest.lua; an earlier
release's full-key entry is moved), KEYS[3] the tenant's breaker hash, KEYS[4] its refusal breaker's counted rows (SET),
KEYS[5] its rows whose 400 was their own (SET) (KEYS[3..5] are touched only when ARGV[5] is set)
The run hash P:run:<id>, its rows (:rows) and timeline (:timeline) and the key's lock P:lock:<key> are named from
ARGV[1] and each outcome's run id and key: they share the prefix's slot on a cluster.
ARGV[1] key prefix, ARGV[2] now (ms), ARGV[3] run retention (ms), ARGV[4] the run's key suffixes (space-separated),
ARGV[5] ttl (ms) of the "own" set, or '' to leave the tenant's breakers alone: a success then does, in this same call,
what the permission breaker and the refusal breaker do on a success (ends a run of 403s; includes/breakRefusalRun.lua),
then 10 per outcome: run id, line, final state, row JSON, key, fingerprint, version, lock owner, generation,
timeline bucket (epoch s of its start)
Returns, per outcome in order: recorded | completed (it finished its run) | already|<state>
]]
local latestKey, fpKey = KEYS[1], KEYS[2]
local prefix, now, retentionMs, suffixes, ownTtl = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local statsKey = prefix .. ':stats'

--- @include "finishRunIfDone"

--- @include "decodeRow"

--- @include "keyDigest"

--- @include "breakRefusalRun"

local results = {}
-- Per run (in the order first seen): its rows ended by state, its timeline fields, its last recorded outcome.
local runs, runOrder = {}, {}
local ended = {}
local succeeded = false

for i = 6, #ARGV, 10 do
  local runId, line, state, json, key, fp, version, owner, generation, bucket =
    ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6], ARGV[i + 7], tonumber(ARGV[i + 8]), ARGV[i + 9]
  local runKey = prefix .. ':run:' .. runId
  local rowsKey = runKey .. ':rows'
  local lockKey = prefix .. ':lock:' .. key
  local n = #results + 1
  if redis.call('GET', lockKey) == owner then redis.call('DEL', lockKey) end

  local current = redis.call('HGET', rowsKey, line)
  if not current then
    results[n] = 'already|missing'
  else
    local row = decodeRow(current)
    if row.state ~= 'queued' or (row.generation or 0) ~= generation then
      results[n] = 'already|' .. row.state
    else
      redis.call('HSET', rowsKey, line, json)
      results[n] = 'recorded'
      local run = runs[runId]
      if not run then
        run = { key = runKey, states = {}, timeline = {}, total = 0 }
        runs[runId] = run
        runOrder[#runOrder + 1] = runId
      end
      run.total = run.total + 1
      run.states[state] = (run.states[state] or 0) + 1
      -- Timeline: counted here, with the state change, so a row shows in exactly one bucket.
      local field = bucket .. ':' .. state
      run.timeline[field] = (run.timeline[field] or 0) + 1
      run.last = n
      ended[state] = (ended[state] or 0) + 1
      if state == 'succeeded' then
        succeeded = true
        local digest = keyDigest(key)
        local latest = readEntry(latestKey, key, digest, true)
        -- Only the newest update may define what Graph holds; an older one that still landed must not.
        if latest and string.match(latest, '^([^|]*)|') == version then
          -- claimRow deleted the key's entry (both fields) when this PATCH started, so no older-release field is left behind.
          redis.call('HSET', fpKey, digest, fp .. '|' .. version)
        end
      end
    end
  end
end

-- The run's counters and the fleet's stats move together (as includes/endQueuedRows.lua does for one state).
local total = 0
for _, runId in ipairs(runOrder) do
  local run = runs[runId]
  total = total + run.total
  local stillQueued = redis.call('HINCRBY', run.key, 'queued', -run.total)
  for state, n in pairs(run.states) do redis.call('HINCRBY', run.key, state, n) end
  for field, n in pairs(run.timeline) do redis.call('HINCRBY', run.key .. ':timeline', field, n) end
  -- Rows still queued: the run cannot be done yet, nothing to look at.
  if stillQueued <= 0 and finishRunIfDone(run.key) then results[run.last] = 'completed' end
end
if total > 0 then
  redis.call('HINCRBY', statsKey, 'rows:queued', -total)
  for state, n in pairs(ended) do redis.call('HINCRBY', statsKey, 'rows:' .. state, n) end
end

if succeeded and ownTtl ~= '' then
  -- A success ends the tenant's run of 403s: a write only when there was one (a missing count reads as 0).
  redis.call('HDEL', KEYS[3], 'consecutive403')
  breakRefusalRun(KEYS[3], KEYS[4], KEYS[5], ownTtl)
end

return results
