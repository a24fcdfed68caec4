--[[
Creates a run, or reopens one whose input is being read again (a resumed import, another event request of a shared
event run). A reopened run is running until its input is read again: its keys stop expiring meanwhile.
KEYS[1] run hash
ARGV[1] runId, ARGV[2] source label, ARGV[3] now (ms), ARGV[4] key prefix, ARGV[5] the run's key suffixes (space-separated)
Returns: created | reopened
]]
local runKey = KEYS[1]
local runId, source, now, prefix, suffixes = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local statsKey = prefix .. ':stats'
if redis.call('HSETNX', runKey, 'createdAt', now) == 1 then
  redis.call('HSET', runKey, 'source', source, 'importFinished', '0')
  redis.call('ZADD', prefix .. ':runs', now, runId)
  redis.call('HINCRBY', statsKey, 'runs:open', 1)
  return 'created'
end
redis.call('HSET', runKey, 'importFinished', '0')
if redis.call('HGET', runKey, 'finishedAt') then
  redis.call('HDEL', runKey, 'finishedAt')
  redis.call('HINCRBY', statsKey, 'runs:open', 1)
end
redis.call('PERSIST', runKey)
for suffix in string.gmatch(suffixes, '%S+') do redis.call('PERSIST', runKey .. suffix) end
-- A run pruned from the list while it expired and then came back (same id) is listed again.
redis.call('ZADD', prefix .. ':runs', 'NX', tonumber(redis.call('HGET', runKey, 'createdAt')), runId)
return 'reopened'
