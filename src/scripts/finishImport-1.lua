--[[
Marks a run's input as fully read. If every row already ended, the run is finished now.
KEYS[1] run hash; ARGV[1] now (ms), ARGV[2] import error ('' when the input was read to the end),
ARGV[3] key prefix, ARGV[4] run retention (ms), ARGV[5] the run's key suffixes (space-separated)
Returns: completed | running
]]
local runKey = KEYS[1]
local now, prefix, retentionMs, suffixes = ARGV[1], ARGV[3], ARGV[4], ARGV[5]
local statsKey = prefix .. ':stats'

--- @include "finishRunIfDone"

redis.call('HSET', runKey, 'importFinished', '1')
if ARGV[2] ~= '' then redis.call('HSET', runKey, 'importError', ARGV[2]) end
if finishRunIfDone(runKey) then return 'completed' end
return 'running'
