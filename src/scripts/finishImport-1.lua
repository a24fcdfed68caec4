--[[
Marks a run's input as fully read. If every row already ended, the run is finished now.
KEYS[1] run hash; ARGV[1] now (ms), ARGV[2] import error ('' when the input was read to the end)
Returns: completed | running
]]
local runKey = KEYS[1]
redis.call('HSET', runKey, 'importFinished', '1')
if ARGV[2] ~= '' then redis.call('HSET', runKey, 'importError', ARGV[2]) end
if tonumber(redis.call('HGET', runKey, 'queued') or '0') <= 0 and not redis.call('HGET', runKey, 'finishedAt') then
  redis.call('HSET', runKey, 'finishedAt', ARGV[1])
  return 'completed'
end
return 'running'
