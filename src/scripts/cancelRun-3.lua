#!lua flags=allow-oom
--[[
Cancels the rows of one request the server already answered with an error (Redis did not answer in time, or was
out of memory after the request's rows were admitted but before their jobs were added): every
row of lines ARGV[4]..ARGV[5] still queued becomes failed, so a job that reached Redis after the answer is never
sent (claimRow sees the row is no longer queued). Sent on the same connection as the request's own writes, so
Redis runs it after all of them. Event runs are shared by the requests of an hour: only this request's lines are
touched, and the run ends here only when no other row is queued.
KEYS[1] run hash, KEYS[2] rows hash, KEYS[3] runs zset
ARGV[1] reason, ARGV[2] now (ms), ARGV[3] run id, ARGV[4] first line, ARGV[5] last line, ARGV[6] key prefix,
ARGV[7] run retention (ms), ARGV[8] the run's key suffixes (space-separated),
ARGV[9] (optional) JSON array of the older queued rows the request's rows superseded at admission, with what their
jobs carry: [{ runId, line, key, version, generation }] (the importer has them from admitRows' decisions)
Such an older row's job was left in its queue (superseding never removes a job), so the row is queued again, with
P:latest (keyed by keyDigest(key), includes/keyDigest.lua; an earlier release's full-key entry is moved) pointing back
at it, when: it is not one of the cancelled lines itself, one of the cancelled lines superseded it, that line is still
its key's newest update, its run has not ended, and its job has not come by yet (a worker that claims a superseded
row's job records skippedGeneration on the row, claimRow-5.lua, atomically with this script: a job that came by has
ended unsent, and the row stays superseded). So a refused request leaves the older update as it found it. (A run that
ended when its last queued row was superseded stays ended: that row stays superseded.)
allow-oom: cancelling is how a request refused for lack of memory is undone, so it must run when Redis is full; it
adds at most a short JSON per line of one request (1,000 at most).
A run that reached Redis without any row is removed altogether: it holds nothing to report.
Returns: the number of rows cancelled (0 when the run never reached Redis)
]]
local runKey, rowsKey = KEYS[1], KEYS[2]
local reason, now, runId = ARGV[1], ARGV[2], ARGV[3]
local firstLine, lastLine = tonumber(ARGV[4]), tonumber(ARGV[5])
local statsKey, retentionMs, suffixes = ARGV[6] .. ':stats', ARGV[7], ARGV[8]

--- @include "finishRunIfDone"

--- @include "endQueuedRows"

--- @include "decodeRow"

--- @include "keyDigest"

if redis.call('EXISTS', runKey) == 0 then return 0 end
if redis.call('EXISTS', rowsKey) == 0 then
  if not redis.call('HGET', runKey, 'finishedAt') then redis.call('HINCRBY', statsKey, 'runs:open', -1) end
  redis.call('DEL', runKey)
  redis.call('ZREM', KEYS[3], runId)
  return 0
end

-- A queued row is "q|<generation>" (or "q|<generation>|<tenant>"), or a re-queued failed row's JSON with state "queued"
-- (src/redis-layout.ts).
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
local restored = 0
if cancelled > 0 and ARGV[9] and ARGV[9] ~= '' then
  local latestKey = ARGV[6] .. ':latest'
  for _, older in ipairs(cjson.decode(ARGV[9])) do
    local ownLine = older.runId == runId and older.line >= firstLine and older.line <= lastLine
    local prevRunKey = ARGV[6] .. ':run:' .. older.runId
    local prevRowsKey = prevRunKey .. ':rows'
    local text = (not ownLine) and redis.call('HGET', prevRowsKey, tostring(older.line))
    local row = text and decodeRow(text)
    local by = row and row.supersededBy
    if row and row.state == 'superseded' and by and by.runId == runId and by.line >= firstLine and by.line <= lastLine
      and row.skippedGeneration ~= older.generation and not redis.call('HGET', prevRunKey, 'finishedAt') then
      local field = keyDigest(older.key)
      local latest = readEntry(latestKey, older.key, field, true)
      local lrun, lline = string.match(latest or '', '^[^|]*|([^|]*)|([^|]*)$')
      if lrun == runId and tonumber(lline) == by.line then
        -- As admitRows-5.lua stores a queued row: a tenant's key starts with its GUID (src/redis-layout.ts).
        local tenant = string.match(older.key, '^(%x+%-%x+%-%x+%-%x+%-%x+)/')
        redis.call('HSET', prevRowsKey, older.line, 'q|' .. tostring(older.generation or 0) .. (tenant and ('|' .. tenant) or ''))
        redis.call('HSET', latestKey, field, older.version .. '|' .. older.runId .. '|' .. older.line)
        redis.call('HINCRBY', prevRunKey, 'superseded', -1)
        redis.call('HINCRBY', prevRunKey, 'queued', 1)
        restored = restored + 1
      end
    end
  end
end
if restored > 0 then
  redis.call('HINCRBY', statsKey, 'rows:superseded', -restored)
  redis.call('HINCRBY', statsKey, 'rowsLeft:superseded', restored)
  redis.call('HINCRBY', statsKey, 'rows:queued', restored)
end

if cancelled > 0 then endQueuedRows(runKey, 'failed', cancelled) end

-- This request's pass is over; the run ends here if nothing of it is queued (a cancelled row counts as failed).
redis.call('HSET', runKey, 'importFinished', '1')
finishRunIfDone(runKey)
return cancelled
