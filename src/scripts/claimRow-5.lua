--[[
Decides whether a job may send its PATCH now, and takes the key's lock if so.
KEYS[1] run hash, KEYS[2] rows hash, KEYS[3] latest hash, KEYS[4] fingerprints hash, KEYS[5] key lock
(the two hashes are keyed by keyDigest(key), includes/keyDigest.lua; an earlier release's full-key entry is moved)
ARGV[1] line, ARGV[2] key, ARGV[3] version, ARGV[4] generation, ARGV[5] lock owner (job id), ARGV[6] lock ttl ms,
ARGV[7] key prefix, ARGV[8] now (ms), ARGV[9] run retention (ms), ARGV[10] the run's key suffixes (space-separated)
Returns:
  send                 go ahead; the key's fingerprint is cleared, since this PATCH's outcome is unknown until it ends
  done|<state>         the row already ended (a duplicate delivery after a crash, or `cancel`): do nothing
                       (a queued row of a run `cancel` stamped with cancelledAt becomes cancelled here: done|cancelled)
  superseded           a newer update for the key exists; the row is recorded as superseded
A superseded row records the generation of the job that came by (skippedGeneration), before any send slot is taken.
  locked               another job holds the key (an older update still in flight): try again shortly
  missing              no such row (its run was deleted)
]]
local runKey, rowsKey, latestKey, fpKey, lockKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local line, key, version, generation, owner, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6]
local prefix, now, retentionMs, suffixes = ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local statsKey = prefix .. ':stats'

--- @include "finishRunIfDone"

--- @include "endQueuedRows"

--- @include "decodeRow"

--- @include "keyDigest"

local json = redis.call('HGET', rowsKey, line)
if not json then return 'missing' end
local row = decodeRow(json)
if row.state ~= 'queued' then
  -- A superseded row's job ends here unsent: cancelRun-3.lua must no longer queue the row again (no job would send it).
  if row.state == 'superseded' and row.skippedGeneration ~= generation then
    row.skippedGeneration = generation
    redis.call('HSET', rowsKey, line, cjson.encode(row))
  end
  return 'done|' .. row.state
end
if (row.generation or 0) ~= generation then return 'done|stale-generation' end
-- `cancel`: a row admitted after the cancel swept the run (or missed by it) is never sent, on any worker.
if redis.call('HGET', runKey, 'cancelledAt') then
  redis.call('HSET', rowsKey, line, cjson.encode({
    state = 'cancelled', key = key, generation = generation,
    reason = 'cancelled by the operator before it was sent', finishedAt = tonumber(now),
  }))
  endQueuedRows(runKey, 'cancelled', 1)
  finishRunIfDone(runKey)
  return 'done|cancelled'
end

local field = keyDigest(key)
local latest = readEntry(latestKey, key, field, true)
if latest then
  local lv, lrun, lline = string.match(latest, '^([^|]*)|([^|]*)|([^|]*)$')
  if lv ~= version then
    local by = { runId = lrun, line = tonumber(lline) }
    redis.call('HSET', rowsKey, line, cjson.encode({ state = 'superseded', key = key, supersededBy = by, skippedGeneration = generation }))
    endQueuedRows(runKey, 'superseded', 1)
    finishRunIfDone(runKey)
    return 'superseded'
  end
end

-- Taken at once when free (one SET NX, the common case); a lock already held is looked at: this job's own is renewed.
if not redis.call('SET', lockKey, owner, 'NX', 'PX', ttl) then
  if redis.call('GET', lockKey) ~= owner then return 'locked' end
  redis.call('SET', lockKey, owner, 'PX', ttl)
end
deleteEntry(fpKey, key, field)
return 'send'
