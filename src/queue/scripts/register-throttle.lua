--[[
A 429 pauses the whole fleet for Retry-After and slows it down (multiplicative decrease).
Slots handed out before the 429 are voided (the epoch moves on, and the next free slot restarts at the
end of the pause): the server's bucket is empty now, so sending them at the old spacing would only
collect more 429s, each of which the server charges against the budget as well.
Requests already on the wire when the first 429 hit will see 429s too; only one cut is made per
cool-down so they do not compound into a crawl.
KEYS[1] budget hash
ARGV[1] Retry-After (µs), ARGV[2] configured interval (µs), ARGV[3] decrease factor (e.g. 0.75), ARGV[4] slowest interval (µs)
Returns: µs by which this 429 extended the fleet's pause (0 when an earlier 429 already covered it).
]]
local key = KEYS[1]
local retryAfter, configured, factor, slowest = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local h = redis.call('HMGET', key, 'pauseUntil', 'intervalUs', 'lastCutUs')
local pauseUntil = math.max(tonumber(h[1]) or 0, now)
local newPause = now + retryAfter
local extended = 0
if newPause > pauseUntil then
  extended = newPause - pauseUntil
  pauseUntil = newPause
end

local current = math.max(tonumber(h[2]) or configured, configured)
local lastCut = tonumber(h[3]) or 0
if now - lastCut > math.max(retryAfter, 2 * current) then
  local widened = math.min(current / factor, slowest)
  redis.call('HSET', key, 'cutIntervalUs', widened, 'lastCutUs', now, 'ceilingIntervalUs', current)
end
redis.call('HSET', key, 'pauseUntil', pauseUntil, 'tat', pauseUntil)
redis.call('HINCRBY', key, 'epoch', 1)
return math.floor(extended)
