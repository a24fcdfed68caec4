--[[
Fleet-wide pacing (GCRA): hands out evenly spaced send slots to every worker of every process,
so requests are spread through the window instead of bursting at its start.
The spacing adapts: after a 429 it widens, then narrows again linearly back to the configured rate (AIMD).
KEYS[1] budget hash
ARGV[1] configured interval (µs), ARGV[2] recovery per second, as a fraction of the configured rate
Returns: { µs to wait before sending (-1 while the permission breaker is tripped), throttle epoch }.
The caller sleeps until its slot, then compares the epoch: if a 429 arrived meanwhile, the slot is void.
]]
local key = KEYS[1]
local configured, recovery = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local h = redis.call('HMGET', key, 'tat', 'pauseUntil', 'cutIntervalUs', 'lastCutUs', 'blocked', 'epoch', 'ceilingIntervalUs')
local epoch = tonumber(h[6]) or 0
if h[5] == '1' then return { -1, epoch } end

local interval = configured
local cut, lastCut = tonumber(h[3]), tonumber(h[4])
if cut and lastCut and cut > configured then
  -- rate climbs back linearly from the cut rate: r(t) = r_cut + recovery * r_conf * seconds since the cut
  local rate = 1 / cut + recovery * (1 / configured) * ((now - lastCut) / 1000000)
  local ceiling = tonumber(h[7])
  if ceiling then
    local knee = tonumber(ARGV[3]) / ceiling
    if rate > knee then rate = knee + (rate - knee) / tonumber(ARGV[4]) end
  end
  if rate < 1 / configured then interval = 1 / rate end
end

local slot = math.max(tonumber(h[1]) or 0, now, tonumber(h[2]) or 0)
redis.call('HSET', key, 'tat', slot + interval, 'intervalUs', math.floor(interval))
return { math.floor(slot - now), epoch }
