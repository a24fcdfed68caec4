--[[
Ends a run whose request the server already answered with an error (Redis did not answer in time): every row
still queued becomes failed, so a job that reached Redis after the answer is never sent (claimRow sees the row
is no longer queued). Sent on the same connection as the request's own writes, so Redis runs it after all of them.
KEYS[1] run hash, KEYS[2] rows hash, KEYS[3] runs zset; ARGV[1] reason, ARGV[2] now (ms), ARGV[3] run id
A run that reached Redis without any row is removed altogether: it holds nothing to report.
Returns: the number of rows cancelled (0 when the run never reached Redis)
]]
local runKey, rowsKey = KEYS[1], KEYS[2]
if redis.call('EXISTS', runKey) == 0 then return 0 end
if redis.call('EXISTS', rowsKey) == 0 then
  redis.call('DEL', runKey)
  redis.call('ZREM', KEYS[3], ARGV[3])
  return 0
end
local cancelled = 0
local all = redis.call('HGETALL', rowsKey)
for i = 1, #all, 2 do
  local row = cjson.decode(all[i + 1])
  if row.state == 'queued' then
    row.state = 'failed'
    row.reason = ARGV[1]
    row.record = nil
    redis.call('HSET', rowsKey, all[i], cjson.encode(row))
    cancelled = cancelled + 1
  end
end
if cancelled > 0 then
  redis.call('HINCRBY', runKey, 'queued', -cancelled)
  redis.call('HINCRBY', runKey, 'failed', cancelled)
end
redis.call('HSET', runKey, 'importFinished', '1', 'importError', ARGV[1])
if not redis.call('HGET', runKey, 'finishedAt') then redis.call('HSET', runKey, 'finishedAt', ARGV[2]) end
return cancelled
