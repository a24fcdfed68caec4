--[[
Admits a batch of imported rows into a run, atomically per row.
KEYS[1] run hash, KEYS[2] rows hash, KEYS[3] latest hash, KEYS[4] fingerprints hash
ARGV[1] runId, ARGV[2] full ("1" ignores fingerprints), ARGV[3] key prefix
then groups of 6: kind ("r" rejected | "v" valid), line, key, fingerprint, version, row JSON
Returns one decision per row:
  dup                      the line was already admitted by an earlier (interrupted) pass of this run
  requeue|<generation>|<version>  already admitted and still waiting: the caller re-adds its job under the same id
                           and with the version stored then (its arrival number was taken by the first pass)
  rejected | unchanged | superseded | queued
  queued|<runId>|<line>    queued, and the older waiting row it replaced (its job should be removed)
]]
local runKey, rowsKey, latestKey, fpKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local runId, full, prefix = ARGV[1], ARGV[2], ARGV[3]
local out = {}
local maxLine = tonumber(redis.call('HGET', runKey, 'maxLine') or '0')

-- Lua 5.1's gmatch yields empty matches around separators, so split by hand.
local function split(value)
  local parts, start = {}, 1
  while true do
    local bar = string.find(value, '|', start, true)
    if not bar then parts[#parts + 1] = string.sub(value, start); return parts end
    parts[#parts + 1] = string.sub(value, start, bar - 1)
    start = bar + 1
  end
end

local function store(line, row, state)
  row.state = state
  redis.call('HSET', rowsKey, line, cjson.encode(row))
  redis.call('HINCRBY', runKey, state, 1)
end

for i = 4, #ARGV, 6 do
  local kind, line, key, fp, version, json = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  if tonumber(line) > maxLine then maxLine = tonumber(line) end
  local existing = redis.call('HGET', rowsKey, line)
  if existing then
    local row = cjson.decode(existing)
    if row.state == 'queued' then out[#out + 1] = 'requeue|' .. tostring(row.generation or 0) .. '|' .. row.version else out[#out + 1] = 'dup' end
  elseif kind == 'r' then
    store(line, cjson.decode(json), 'rejected')
    out[#out + 1] = 'rejected'
  else
    local row = cjson.decode(json)
    local latest = redis.call('HGET', latestKey, key)
    local lv, lrun, lline
    if latest then
      local p = split(latest); lv, lrun, lline = p[1], p[2], p[3]
    end
    if lv and lv > version then
      row.supersededBy = { runId = lrun, line = tonumber(lline) }
      store(line, row, 'superseded')
      out[#out + 1] = 'superseded'
    else
      local sent = redis.call('HGET', fpKey, key)
      local sfp, sv
      if sent then local p = split(sent); sfp, sv = p[1], p[2] end
      if full ~= '1' and sfp == fp and (lv == nil or lv == sv) then
        store(line, row, 'unchanged')
        out[#out + 1] = 'unchanged'
      else
        redis.call('HSET', latestKey, key, version .. '|' .. runId .. '|' .. line)
        store(line, row, 'queued')
        redis.call('HINCRBY', runKey, 'enqueued', 1)
        local decision = 'queued'
        if lrun and not (lrun == runId and lline == line) then
          local prevRowsKey = prefix .. ':run:' .. lrun .. ':rows'
          local prevJson = redis.call('HGET', prevRowsKey, lline)
          if prevJson then
            local prev = cjson.decode(prevJson)
            if prev.state == 'queued' then
              prev.state = 'superseded'
              prev.supersededBy = { runId = runId, line = tonumber(line) }
              redis.call('HSET', prevRowsKey, lline, cjson.encode(prev))
              local prevRunKey = prefix .. ':run:' .. lrun
              redis.call('HINCRBY', prevRunKey, 'queued', -1)
              redis.call('HINCRBY', prevRunKey, 'superseded', 1)
              decision = 'queued|' .. lrun .. '|' .. lline .. '|' .. tostring(prev.generation or 0)
            end
          end
        end
        out[#out + 1] = decision
      end
    end
  end
end
redis.call('HSET', runKey, 'maxLine', maxLine)
return out
