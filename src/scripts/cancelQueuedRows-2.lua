--[[
`cancel <runId>`: stamps the run cancelled (the first call) and turns its queued rows of lines ARGV[1]..ARGV[2] into
`cancelled`, keeping the row's generation and tenant so its key can still be read from its job. A job of a cancelled
row is skipped by claimRow on any worker, and so is a job of a row admitted after the cancel (claimRow cancels it
there), so nothing of the run is sent afterwards. The run ends here once its input is read and nothing is queued.
KEYS[1] run hash, KEYS[2] rows hash
ARGV[1] first line, ARGV[2] last line (below the first: no rows to look at), ARGV[3] now (ms), ARGV[4] key prefix,
ARGV[5] run retention (ms), ARGV[6] the run's key suffixes (space-separated)
Returns: the number of rows cancelled by this call
]]
local runKey, rowsKey = KEYS[1], KEYS[2]
local firstLine, lastLine, now = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local statsKey, retentionMs, suffixes = ARGV[4] .. ':stats', ARGV[5], ARGV[6]

--- @include "finishRunIfDone"

--- @include "endQueuedRows"

--- @include "decodeRow"

if redis.call('EXISTS', runKey) == 0 or redis.call('HGET', runKey, 'finishedAt') then return 0 end
redis.call('HSETNX', runKey, 'cancelledAt', now)

local cancelled = 0
for line = firstLine, lastLine do
  local text = redis.call('HGET', rowsKey, line)
  if text and string.byte(text, 1) == 113 then
    local row = decodeRow(text)
    redis.call('HSET', rowsKey, line, cjson.encode({
      state = 'cancelled', generation = row.generation, tenantId = row.tenant,
      reason = 'cancelled by the operator before it was sent', finishedAt = tonumber(now),
    }))
    cancelled = cancelled + 1
  end
end
if cancelled > 0 then endQueuedRows(runKey, 'cancelled', cancelled) end
finishRunIfDone(runKey)
return cancelled
