--[[
Marks a run blocked by the permission breaker (with the reason), or unblocks it. A blocked run never expires:
its keys are kept until it is resumed; a run that had finished meanwhile starts its retention clock at unblocking.
KEYS[1] run hash
ARGV[1] "1" block | "0" unblock, ARGV[2] reason, ARGV[3] key prefix, ARGV[4] run retention (ms), ARGV[5] the run's key suffixes
Returns: 1 when the run's blocked flag changed, else 0
]]
local runKey = KEYS[1]
local block, reason, prefix, retentionMs, suffixes = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local statsKey = prefix .. ':stats'
if redis.call('EXISTS', runKey) == 0 then return 0 end
local was = redis.call('HGET', runKey, 'blocked') == '1'
if block == '1' then
  redis.call('HSET', runKey, 'blocked', '1', 'blockedReason', reason)
  redis.call('PERSIST', runKey)
  for suffix in string.gmatch(suffixes, '%S+') do redis.call('PERSIST', runKey .. suffix) end
  if not was then redis.call('HINCRBY', statsKey, 'runs:blocked', 1); return 1 end
  return 0
end
redis.call('HSET', runKey, 'blocked', '0', 'blockedReason', '')
if redis.call('HGET', runKey, 'finishedAt') then
  redis.call('PEXPIRE', runKey, retentionMs)
  for suffix in string.gmatch(suffixes, '%S+') do redis.call('PEXPIRE', runKey .. suffix, retentionMs) end
end
if was then redis.call('HINCRBY', statsKey, 'runs:blocked', -1); return 1 end
return 0
