--[[
Creates a run with the identity of its input, or reports the run that already holds this id, in one step, so two
imports can never both believe they created the same run.
KEYS[1] run hash, KEYS[2] runs zset; ARGV[1] now (ms), ARGV[2] source label, ARGV[3] input identity, ARGV[4] run id,
ARGV[5] fleet stats hash (P:stats: a created run is open), then optional pairs of more run hash fields to set only
when the run is created (field, value; e.g. verifyWhenDone)
Returns: {'created'} | {'exists', input, importFinished, importError, source}
]]
local runKey = KEYS[1]
if redis.call('HSETNX', runKey, 'createdAt', ARGV[1]) == 1 then
  redis.call('HSET', runKey, 'source', ARGV[2], 'input', ARGV[3], 'importFinished', '0')
  for i = 6, #ARGV, 2 do redis.call('HSET', runKey, ARGV[i], ARGV[i + 1]) end
  redis.call('ZADD', KEYS[2], ARGV[1], ARGV[4])
  redis.call('HINCRBY', ARGV[5], 'runs:open', 1)
  return {'created'}
end
local h = redis.call('HMGET', runKey, 'input', 'importFinished', 'importError', 'source')
return {'exists', h[1] or '', h[2] or '', h[3] or '', h[4] or ''}
