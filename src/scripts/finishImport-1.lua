--[[
Marks a run's input as fully read. If every row already ended, the run is finished now.
KEYS[1] run hash; ARGV[1] now (ms), ARGV[2] import error ('' when the input was read to the end),
ARGV[3] key prefix, ARGV[4] run retention (ms), ARGV[5] the run's key suffixes (space-separated)
Returns: completed | running
]]
local runKey = KEYS[1]
local now, prefix, retentionMs, suffixes = ARGV[1], ARGV[3], ARGV[4], ARGV[5]
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

redis.call('HSET', runKey, 'importFinished', '1')
if ARGV[2] ~= '' then redis.call('HSET', runKey, 'importError', ARGV[2]) end
if finishRunIfDone(runKey) then return 'completed' end
return 'running'
