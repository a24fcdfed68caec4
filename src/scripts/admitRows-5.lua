--[[
Admits a batch of imported rows into a run, atomically per row.
KEYS[1] run hash, KEYS[2] rows hash, KEYS[3] latest hash, KEYS[4] fingerprints hash, KEYS[5] arrival counter (P:seq)
ARGV[1] runId, ARGV[2] full ("1" ignores fingerprints), ARGV[3] key prefix
then groups of 6: kind ("r" rejected | "v" valid), line, key, fingerprint, reported ticks (see src/domain/version.ts),
  and for a rejected row its JSON without "state" (a non-empty object; the script adds it), '' for a valid row
The batch takes one arrival number per row, in order: row i's version is "<ticks>:<first + i, 16 digits>",
as makeVersion() builds it.
Returns the first arrival number, then one decision per row:
  dup                      the line was already admitted by an earlier (interrupted) pass of this run
  requeue|<generation>|<version>  already admitted and still waiting: the caller re-adds its job under the same id
                           and with the version stored then (its arrival number was taken by the first pass)
  rejected | unchanged | superseded | queued
  queued|<runId>|<line>|<generation>  queued, and the older waiting row it replaced (its job should be removed)
A valid row's JSON ({ state, version, line, key, fingerprint, generation: 0 } plus supersededBy when superseded)
is built here by concatenation rather than sent: at a million rows, encoding it in the importer (and decoding and
re-encoding it here) was a large share of the import's cost.
]]
local runKey, rowsKey, latestKey, fpKey, seqKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local runId, full, prefix = ARGV[1], ARGV[2], ARGV[3]
local count = (#ARGV - 3) / 6
local firstSequence = redis.call('INCRBY', seqKey, count) - count + 1
local out = { tostring(firstSequence) }
local maxLine = tonumber(redis.call('HGET', runKey, 'maxLine') or '0')
-- This run's counters move once per batch; the script is atomic, so nobody sees the difference.
local counts = { rejected = 0, unchanged = 0, superseded = 0, queued = 0, enqueued = 0 }

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

-- `members` is the rest of the row's JSON after its "state" member, up to and including the closing brace.
local function store(line, state, members)
  redis.call('HSET', rowsKey, line, '{"state":"' .. state .. '",' .. members)
  counts[state] = counts[state] + 1
end

for i = 4, #ARGV, 6 do
  local kind, line, key, fp, ticks, json = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  local version = ticks .. ':' .. string.format('%016d', firstSequence + (i - 4) / 6)
  if tonumber(line) > maxLine then maxLine = tonumber(line) end
  local existing = redis.call('HGET', rowsKey, line)
  if existing then
    local row = cjson.decode(existing)
    if row.state == 'queued' then out[#out + 1] = 'requeue|' .. tostring(row.generation or 0) .. '|' .. row.version else out[#out + 1] = 'dup' end
  elseif kind == 'r' then
    store(line, 'rejected', string.sub(json, 2))
    out[#out + 1] = 'rejected'
  else
    local members = '"version":"' .. version .. '","line":' .. line .. ',"key":' .. cjson.encode(key) .. ',"fingerprint":' .. cjson.encode(fp) .. ',"generation":0}'
    local latest = redis.call('HGET', latestKey, key)
    local lv, lrun, lline
    if latest then
      local p = split(latest); lv, lrun, lline = p[1], p[2], p[3]
    end
    if lv and lv > version then
      store(line, 'superseded', '"supersededBy":' .. cjson.encode({ runId = lrun, line = tonumber(lline) }) .. ',' .. members)
      out[#out + 1] = 'superseded'
    else
      local sent = redis.call('HGET', fpKey, key)
      local sfp, sv
      if sent then local p = split(sent); sfp, sv = p[1], p[2] end
      if full ~= '1' and sfp == fp and (lv == nil or lv == sv) then
        store(line, 'unchanged', members)
        out[#out + 1] = 'unchanged'
      else
        redis.call('HSET', latestKey, key, version .. '|' .. runId .. '|' .. line)
        store(line, 'queued', members)
        counts.enqueued = counts.enqueued + 1
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
for state, n in pairs(counts) do
  if n > 0 then redis.call('HINCRBY', runKey, state, n) end
end
redis.call('HSET', runKey, 'maxLine', maxLine)
return out
