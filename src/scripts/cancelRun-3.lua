--[[
Cancels the rows of one request the server already answered with an error (Redis did not answer in time): every
row of lines ARGV[4]..ARGV[5] still queued becomes failed, so a job that reached Redis after the answer is never
sent (claimRow sees the row is no longer queued). Sent on the same connection as the request's own writes, so
Redis runs it after all of them. Event runs are shared by the requests of an hour: only this request's lines are
touched, and the run ends here only when no other row is queued.
KEYS[1] run hash, KEYS[2] rows hash, KEYS[3] runs zset
ARGV[1] reason, ARGV[2] now (ms), ARGV[3] run id, ARGV[4] first line, ARGV[5] last line, ARGV[6] key prefix,
ARGV[7] run retention (ms), ARGV[8] the run's key suffixes (space-separated)
A run that reached Redis without any row is removed altogether: it holds nothing to report.
Returns: the number of rows cancelled (0 when the run never reached Redis)
]]
local runKey, rowsKey = KEYS[1], KEYS[2]
local reason, now, runId = ARGV[1], ARGV[2], ARGV[3]
local firstLine, lastLine = tonumber(ARGV[4]), tonumber(ARGV[5])
local statsKey, retentionMs, suffixes = ARGV[6] .. ':stats', ARGV[7], ARGV[8]

--- @include "finishRunIfDone"

if redis.call('EXISTS', runKey) == 0 then return 0 end
if redis.call('EXISTS', rowsKey) == 0 then
  if not redis.call('HGET', runKey, 'finishedAt') then redis.call('HINCRBY', statsKey, 'runs:open', -1) end
  redis.call('DEL', runKey)
  redis.call('ZREM', KEYS[3], runId)
  return 0
end

-- A queued row is "q|<generation>" (or "q|<generation>|<tenant>"), or a re-queued failed row's JSON with state "queued" (src/redis-layout.ts).
local cancelled = 0
for line = firstLine, lastLine do
  local text = redis.call('HGET', rowsKey, line)
  if text then
    local queued = string.byte(text, 1) == 113
    local row = queued and { state = 'queued' } or cjson.decode(text)
    if row.state == 'queued' then
      redis.call('HSET', rowsKey, line, cjson.encode({ state = 'failed', reason = reason, finishedAt = tonumber(now) }))
      cancelled = cancelled + 1
    end
  end
end
if cancelled > 0 then
  redis.call('HINCRBY', runKey, 'queued', -cancelled)
  redis.call('HINCRBY', runKey, 'failed', cancelled)
  redis.call('HINCRBY', statsKey, 'rows:queued', -cancelled)
  redis.call('HINCRBY', statsKey, 'rows:failed', cancelled)
end

-- This request's pass is over; the run ends here if nothing of it is queued (a cancelled row counts as failed).
redis.call('HSET', runKey, 'importFinished', '1')
finishRunIfDone(runKey)
return cancelled
