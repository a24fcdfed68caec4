-- Moves n rows of a run from `queued` to `state` in the run's counters and in the fleet's stats, so the two never
-- disagree. Reads the including script's `statsKey`.
local function endQueuedRows(theRunKey, state, n)
  redis.call('HINCRBY', theRunKey, 'queued', -n)
  redis.call('HINCRBY', theRunKey, state, n)
  redis.call('HINCRBY', statsKey, 'rows:queued', -n)
  redis.call('HINCRBY', statsKey, 'rows:' .. state, n)
end
