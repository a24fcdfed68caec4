--[[
Decides whether a job may send its PATCH now, and takes the key's lock if so.
KEYS[1] run hash, KEYS[2] rows hash, KEYS[3] latest hash, KEYS[4] fingerprints hash, KEYS[5] key lock
ARGV[1] line, ARGV[2] key, ARGV[3] version, ARGV[4] generation, ARGV[5] lock owner (job id), ARGV[6] lock ttl ms,
ARGV[7] key prefix, ARGV[8] now (ms), ARGV[9] run retention (ms), ARGV[10] the run's key suffixes (space-separated)
Returns:
  send                 go ahead; the key's fingerprint is cleared, since this PATCH's outcome is unknown until it ends
  done|<state>         the row already ended (a duplicate delivery after a crash): do nothing
  superseded           a newer update for the key exists; the row is recorded as superseded
  locked               another job holds the key (an older update still in flight): try again shortly
  missing              no such row (its run was deleted)
]]
local runKey, rowsKey, latestKey, fpKey, lockKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local line, key, version, generation, owner, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6]
local prefix, now, retentionMs, suffixes = ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local statsKey = prefix .. ':stats'

-- Ends a run whose input is read and whose rows have all ended (the same block is in every script that can end one):
-- stamps finishedAt, counts the run in the fleet's stats, and starts the retention clock on every key of the run.
-- A blocked run keeps its keys until it is resumed.
local function finishRunIfDone(theRunKey)
  local h = redis.call('HMGET', theRunKey, 'importFinished', 'queued', 'finishedAt', 'blocked', 'failed', 'importError')
  if h[1] ~= '1' or tonumber(h[2] or '0') > 0 or h[3] then return false end
  redis.call('HSET', theRunKey, 'finishedAt', now)
  redis.call('HINCRBY', statsKey, 'runs:open', -1)
  local outcome = 'completed'
  if tonumber(h[5] or '0') > 0 or (h[6] and h[6] ~= '') then outcome = 'completed_with_errors' end
  redis.call('HINCRBY', statsKey, 'runs:' .. outcome, 1)
  if h[4] ~= '1' then
    redis.call('PEXPIRE', theRunKey, retentionMs)
    for suffix in string.gmatch(suffixes, '%S+') do redis.call('PEXPIRE', theRunKey .. suffix, retentionMs) end
  end
  return true
end

-- A waiting row is stored as "q|<generation>" (src/redis-layout.ts); every other row as JSON.
local function decodeRow(text)
  if string.byte(text, 1) == 113 then return { state = 'queued', generation = tonumber(string.sub(text, 3)) } end
  return cjson.decode(text)
end

local json = redis.call('HGET', rowsKey, line)
if not json then return 'missing' end
local row = decodeRow(json)
if row.state ~= 'queued' then return 'done|' .. row.state end
if (row.generation or 0) ~= generation then return 'done|stale-generation' end

local latest = redis.call('HGET', latestKey, key)
if latest then
  local lv, lrun, lline = string.match(latest, '^([^|]*)|([^|]*)|([^|]*)$')
  if lv ~= version then
    redis.call('HSET', rowsKey, line, cjson.encode({ state = 'superseded', key = key, supersededBy = { runId = lrun, line = tonumber(lline) } }))
    redis.call('HINCRBY', runKey, 'queued', -1)
    redis.call('HINCRBY', runKey, 'superseded', 1)
    redis.call('HINCRBY', statsKey, 'rows:queued', -1)
    redis.call('HINCRBY', statsKey, 'rows:superseded', 1)
    finishRunIfDone(runKey)
    return 'superseded'
  end
end

local holder = redis.call('GET', lockKey)
if holder and holder ~= owner then return 'locked' end
redis.call('SET', lockKey, owner, 'PX', ttl)
redis.call('HDEL', fpKey, key)
return 'send'
