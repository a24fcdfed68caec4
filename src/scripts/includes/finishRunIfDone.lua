-- Ends a run whose input is read and whose rows have all ended: stamps finishedAt, counts the run in the fleet's
-- stats, and starts the retention clock on every key of the run. A blocked run keeps its keys until it is resumed.
-- Every script that can end a run includes this; it reads the including script's `now`, `statsKey`, `retentionMs`
-- and `suffixes` (the run's key suffixes, space-separated).
local function finishRunIfDone(theRunKey)
  local h = redis.call('HMGET', theRunKey, 'importFinished', 'queued', 'finishedAt', 'blocked', 'failed', 'importError', 'cancelledAt')
  if h[1] ~= '1' or tonumber(h[2] or '0') > 0 or h[3] then return false end
  redis.call('HSET', theRunKey, 'finishedAt', now)
  redis.call('HINCRBY', statsKey, 'runs:open', -1)
  local outcome = 'completed'
  if tonumber(h[5] or '0') > 0 or (h[6] and h[6] ~= '') then outcome = 'completed_with_errors' end
  if h[7] then outcome = 'cancelled' end
  redis.call('HINCRBY', statsKey, 'runs:' .. outcome, 1)
  if h[4] ~= '1' then
    redis.call('PEXPIRE', theRunKey, retentionMs)
    for suffix in string.gmatch(suffixes, '%S+') do redis.call('PEXPIRE', theRunKey .. suffix, retentionMs) end
  end
  return true
end
