#!lua flags=allow-oom
--[[
Records a row's final state exactly once and moves the run's counters (and the fleet's stats) with it.
Allowed when Redis is out of memory (allow-oom): a finished row is smaller than the waiting one it replaces
together with its job, so recording outcomes is how a full Redis drains, and an outcome must never be lost.
KEYS[1] run hash, KEYS[2] rows hash, KEYS[3] latest hash, KEYS[4] fingerprints hash, KEYS[5] key lock,
KEYS[6] run timeline hash, KEYS[7] the tenant's breaker hash, KEYS[8] its refusal breaker's counted rows (SET),
KEYS[9] its rows whose 400 was their own (SET) (KEYS[7..9] are touched only when ARGV[14] is set)
(latest and fingerprints are keyed by keyDigest(key), includes/keyDigest.lua; an earlier release's full-key entry is moved)
ARGV[1] line, ARGV[2] final state, ARGV[3] row JSON, ARGV[4] key, ARGV[5] fingerprint, ARGV[6] version,
ARGV[7] lock owner, ARGV[8] generation, ARGV[9] now (ms),
ARGV[10] key prefix, ARGV[11] run retention (ms), ARGV[12] the run's key suffixes (space-separated),
ARGV[13] timeline bucket (epoch s of its start),
ARGV[14] ttl (ms) of the "own" set, or '' to leave the tenant's breakers alone: a success then does, in this same call,
what the permission breaker and the refusal breaker do on a success (ends a run of 403s; includes/breakRefusalRun.lua)
Returns: recorded | completed (this was the run's last queued row) | already|<state>
]]
local runKey, rowsKey, latestKey, fpKey, lockKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local line, state, json, key, fp, version, owner, generation, now =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8]), ARGV[9]
local prefix, retentionMs, suffixes = ARGV[10], ARGV[11], ARGV[12]
local statsKey = prefix .. ':stats'

--- @include "finishRunIfDone"

--- @include "endQueuedRows"

--- @include "decodeRow"

--- @include "keyDigest"

--- @include "breakRefusalRun"

if redis.call('GET', lockKey) == owner then redis.call('DEL', lockKey) end

local current = redis.call('HGET', rowsKey, line)
if not current then return 'already|missing' end
local row = decodeRow(current)
if row.state ~= 'queued' or (row.generation or 0) ~= generation then return 'already|' .. row.state end

redis.call('HSET', rowsKey, line, json)
local stillQueued = endQueuedRows(runKey, state, 1)

-- Timeline: counted here, with the state change, so a row shows in exactly one bucket.
redis.call('HINCRBY', KEYS[6], ARGV[13] .. ':' .. state, 1)

if state == 'succeeded' then
  local field = keyDigest(key)
  local latest = readEntry(latestKey, key, field, true)
  -- Only the newest update may define what Graph holds; an older one that still landed must not.
  if latest and string.match(latest, '^([^|]*)|') == version then
    -- claimRow deleted the key's entry (both fields) when this PATCH started, so no older-release field is left behind.
    redis.call('HSET', fpKey, field, fp .. '|' .. version)
  end
  if ARGV[14] ~= '' then
    -- A success ends the tenant's run of 403s: a write only when there was one (a missing count reads as 0).
    redis.call('HDEL', KEYS[7], 'consecutive403')
    breakRefusalRun(KEYS[7], KEYS[8], KEYS[9], ARGV[14])
  end
end

-- Rows still queued: the run cannot be done yet, nothing to look at.
if stillQueued <= 0 and finishRunIfDone(runKey) then return 'completed' end
return 'recorded'
