--[[
Removes one finished run and every key of it, now, if it finished at or before the cutoff; never a run that is
running (input not fully read, or rows waiting) or blocked. UNLINK frees a big row hash off Redis's main thread.
KEYS[1] run hash
ARGV[1] runId, ARGV[2] key prefix, ARGV[3] the run's key suffixes (space-separated), ARGV[4] cutoff (ms),
ARGV[5] "1" dry run (decide and count, remove nothing)
Returns: the number of rows the run held (>= 0) when it is (or, dry, would be) removed; -1 when it stays
]]
local runKey = KEYS[1]
local runId, prefix, suffixes, cutoff, dry = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5] == '1'
local h = redis.call('HMGET', runKey, 'finishedAt', 'blocked', 'importFinished', 'queued',
  'rejected', 'unchanged', 'succeeded', 'failed', 'superseded', 'cancelled')
if not h[1] or h[2] == '1' or h[3] ~= '1' or tonumber(h[4] or '0') > 0 or tonumber(h[1]) > cutoff then
  if redis.call('EXISTS', runKey) == 0 and not dry then redis.call('ZREM', prefix .. ':runs', runId) end
  return -1
end
local rows = 0
for i = 4, 10 do rows = rows + tonumber(h[i] or '0') end
if not dry then
  redis.call('UNLINK', runKey)
  for suffix in string.gmatch(suffixes, '%S+') do redis.call('UNLINK', runKey .. suffix) end
  redis.call('ZREM', prefix .. ':runs', runId)
end
return rows
