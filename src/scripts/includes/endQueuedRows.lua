-- Moves n rows of a run from `queued` to `state` in the run's counters and in the fleet's stats, so the two never
-- disagree. Reads the including script's `statsKey`. Returns the run's rows still queued: while some are, the run
-- cannot be done, so a caller need not look (finishRunIfDone) until this reaches 0.
local function endQueuedRows(theRunKey, state, n)
  local queued = redis.call('HINCRBY', theRunKey, 'queued', -n)
  redis.call('HINCRBY', theRunKey, state, n)
  redis.call('HINCRBY', statsKey, 'rows:queued', -n)
  redis.call('HINCRBY', statsKey, 'rows:' .. state, n)
  return queued
end
