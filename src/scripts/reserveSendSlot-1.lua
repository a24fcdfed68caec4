--[[
Fleet-wide pacing (GCRA): hands out evenly spaced send slots to every worker of every process,
so requests are spread through the window instead of bursting at its start.
The spacing adapts (AIMD): a 429 cuts the rate (registerThrottle-2.lua); afterwards it climbs back by a
share of the cut rate per second, quickly up to just below the rate that was last refused (the "ceiling"),
then slowly above it, so the fleet probes for more without walking straight back into the same 429.
KEYS[1] budget hash
ARGV[1] configured interval (µs), ARGV[2] recovery per second (share of the cut rate),
ARGV[3] knee (share of the ceiling rate where the climb slows), ARGV[4] how many times slower it climbs above the knee,
ARGV[5] now (µs), or '' for Redis's own TIME: the fleet's one clock; tests pass theirs to run without sleeping
Returns: { µs to wait before sending (-1 while the permission breaker is tripped), throttle epoch }.
The caller sleeps until its slot, then compares the epoch: if a 429 arrived meanwhile, the slot is void.
]]
local key = KEYS[1]
local configured, recovery, knee, slowdown = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local now = tonumber(ARGV[5])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local h = redis.call('HMGET', key,
  'tat', 'pauseUntil', 'cutIntervalUs', 'lastCutUs', 'blocked', 'epoch', 'ceilingIntervalUs', 'expiresAtUs')
local epoch = tonumber(h[6]) or 0
if h[5] == '1' then return { -1, epoch } end

local interval = configured
local cut, lastCut, ceiling = tonumber(h[3]), tonumber(h[4]), tonumber(h[7])
if cut and lastCut and cut > configured then
  local cutRate = 1 / cut
  local rate = cutRate * (1 + recovery * ((now - lastCut) / 1000000))
  if ceiling then
    local kneeRate = knee / ceiling
    if rate > kneeRate then rate = math.max(cutRate, kneeRate) + (rate - math.max(cutRate, kneeRate)) / slowdown end
  end
  if rate < 1 / configured then interval = 1 / rate end
end

local slot = math.max(tonumber(h[1]) or 0, now, tonumber(h[2]) or 0)
local tat = slot + interval
-- Kept while in use; gone 30 to 60 minutes after the last slot (see registerThrottle-2.lua). `blocked` returned above.
-- The expiry is moved on only once less than 30 minutes of it are left after this slot (`expiresAtUs` says when it
-- falls), not on every slot: a PEXPIRE per PATCH was one Redis command in twenty of the worker's.
local expiresAt = tonumber(h[8])
if expiresAt and expiresAt >= tat + 1800000000 then
  redis.call('HSET', key, 'tat', tat, 'intervalUs', math.floor(interval))
else
  local keepUntil = tat + 3600000000
  redis.call('HSET', key, 'tat', tat, 'intervalUs', math.floor(interval), 'expiresAtUs', keepUntil)
  redis.call('PEXPIRE', key, math.floor((keepUntil - now) / 1000))
end
return { math.floor(slot - now), epoch }
