--[[
A 429 pauses the whole fleet for Retry-After and slows it down (multiplicative decrease).
Only a 429 for a request sent in the current epoch judges the current rate and cuts it; one for a request
sent before the last 429 or cut (already on the wire then) says nothing new, so a burst of them costs one
cut, not one each. Whenever the pause grows or the rate is cut, slots handed out before are voided (the
epoch moves on and the next free slot restarts at the end of the pause): they were spaced for a rate the
server just refused, and every refused request is charged against the budget as well.
KEYS[1] budget hash, KEYS[2] its pause ledger (ZSET of "<startUs>:<endUs>" by endUs: every stretch of time the
fleet was paused, so a row's age can leave it out; kept 7 days)
ARGV[1] Retry-After (µs), ARGV[2] configured interval (µs), ARGV[3] decrease factor (e.g. 0.75),
ARGV[4] slowest interval (µs), ARGV[5] epoch of the refused request's slot,
ARGV[6] now (µs), or '' for Redis's own TIME (see reserveSendSlot-1.lua)
Returns: µs by which this 429 extended the fleet's pause (0 when an earlier 429 already covered it).
]]
local key = KEYS[1]
local retryAfter, configured, factor, slowest, sentIn =
  tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local now = tonumber(ARGV[6])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local h = redis.call('HMGET', key, 'pauseUntil', 'intervalUs', 'epoch')
local pauseUntil = math.max(tonumber(h[1]) or 0, now)
local epoch = tonumber(h[3]) or 0
local newPause = now + retryAfter
local extended = 0
if newPause > pauseUntil then
  extended = newPause - pauseUntil
  redis.call('ZADD', KEYS[2], newPause, string.format('%d:%d', pauseUntil, newPause))
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 7 * 86400000000)
  redis.call('PEXPIRE', KEYS[2], math.floor((newPause - now) / 1000) + 7 * 86400000)
  pauseUntil = newPause
end

local current = math.max(tonumber(h[2]) or configured, configured)
local cut = sentIn == epoch
if cut then
  redis.call('HSET', key, 'cutIntervalUs', math.min(current / factor, slowest), 'lastCutUs', now, 'ceilingIntervalUs', current)
end
if cut or extended > 0 then
  redis.call('HSET', key, 'pauseUntil', pauseUntil, 'tat', pauseUntil, 'epoch', epoch + 1)
end
-- The stored pause expires: an hour after the later of the pause's end and the next free slot, the hash goes (an
-- idle fleet starts afresh at its configured rate). Never while the breaker holds it: `blocked` must stay until resume.
if redis.call('HGET', key, 'blocked') ~= '1' then
  local tat = tonumber(redis.call('HGET', key, 'tat')) or now
  redis.call('PEXPIRE', key, math.floor((math.max(pauseUntil, tat) - now) / 1000) + 3600000)
end
return math.floor(extended)
