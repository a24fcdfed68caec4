--[[
Admits a batch of imported rows into a run, atomically per row; or, in dry-run mode, decides the same way and writes nothing.
KEYS[1] run hash, KEYS[2] rows hash, KEYS[3] latest hash, KEYS[4] fingerprints hash, KEYS[5] arrival counter (P:seq)
(the two hashes are keyed by keyDigest(key), includes/keyDigest.lua; an entry an earlier release wrote under the full
key is moved to its digest field when read, except in dry-run mode, which only reads)
ARGV[1] runId, ARGV[2] full ("1" ignores fingerprints), ARGV[3] key prefix, ARGV[4] mode ("write" | "dry"),
ARGV[5] now (ms), ARGV[6] run retention (ms), ARGV[7] the run's key suffixes (RUN_KEY_SUFFIXES, space-separated),
then groups of 7: kind ("r" rejected | "v" valid), line, key, fingerprint, reported ticks (see src/domain/version.ts),
  for a rejected row its JSON without "state" (a non-empty object; the script adds it), for a valid row extra JSON
  members for its stored result (no braces, may be ''; only a row stored as JSON, i.e. failed, uses them), and Graph's
  verdict from import --reconcile (src/results/store.ts GraphVerdict): '' none (fingerprints decide)
  | g Graph holds the values (unchanged, and its fingerprint is remembered as proven, as if sent)
  | s Graph differs (sent even when the fingerprints match) | f Graph has no such configuration (failed, not sent)
The batch takes one arrival number per row, in order: row i's version is "<ticks>:<first + i, 16 digits>",
as versionOf() builds it.
Returns the first arrival number, then one decision per row:
  dup                      the line was already admitted by an earlier (interrupted) pass of this run
  requeue|<generation>|<version>  already admitted and still queued: the caller re-adds its job under the same id
                           and with the version stored then (its arrival number was taken by the first pass)
  rejected | unchanged | superseded | queued | failed
  queued|<runId>|<line>|<generation>|<version>  queued, and the older queued row it superseded: its job stays in the
                           queue and ends unsent when a worker claims it (claimRow-5.lua); what is returned lets
                           cancelRun-3.lua queue that row again if this one is cancelled before it is sent
In dry-run mode nothing is written (no arrival number is taken, rows are judged against Redis only, not against
each other, and Graph verdicts are not used) and each decision is one of: rejected | new | changed | unchanged | stale.
Row layout (src/redis-layout.ts): an unchanged row is only a bit in the run's :unchanged bitmap (the importer keeps its
key, values and any reconcile reason in the chunk's :keys blob); a queued row is
"q|<generation>" or, for another tenant than the default, "q|<generation>|<tenant>" (its key, values and version are
in its job; its version also in P:latest); other rows are JSON, built here by concatenation
rather than sent: at a million rows, encoding them in the importer (and decoding and re-encoding them here) was a
large share of the import's cost.
]]
local runKey, rowsKey, latestKey, fpKey, seqKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local runId, full, prefix, mode, now, retentionMs, suffixes = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local FIRST_ROW_ARG = 8
local dry = mode == 'dry'
local GROUP = 7
local count = (#ARGV - FIRST_ROW_ARG + 1) / GROUP
local firstSequence
if dry then firstSequence = tonumber(redis.call('GET', seqKey) or '0') + 1
else firstSequence = redis.call('INCRBY', seqKey, count) - count + 1 end
local out = { tostring(firstSequence) }
local statsKey = prefix .. ':stats'
local unchangedKey = runKey .. ':unchanged'
local maxLine = tonumber(redis.call('HGET', runKey, 'maxLine') or '0')
-- This run's counters move once per batch; the script is atomic, so nobody sees the difference.
local counts = { rejected = 0, unchanged = 0, superseded = 0, queued = 0, enqueued = 0, failed = 0 }
-- Older queued rows this batch supersedes, per run (run keys in the order first seen): their counters move once per
-- batch too, so superseding a backlog costs two commands per row beyond a first import's (read and rewrite the row).
local supersededRuns, supersededIn = {}, {}
local runIdJson = cjson.encode(runId)

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

--- @include "finishRunIfDone"

-- A finished run that takes new queued rows (a shared event run, a resumed import) is running again, and keeps its keys.
local function reopenRun(theRunKey)
  if not redis.call('HGET', theRunKey, 'finishedAt') then return end
  redis.call('HDEL', theRunKey, 'finishedAt')
  redis.call('HINCRBY', statsKey, 'runs:open', 1)
  redis.call('PERSIST', theRunKey)
  for suffix in string.gmatch(suffixes, '%S+') do redis.call('PERSIST', theRunKey .. suffix) end
end

--- @include "decodeRow"

--- @include "keyDigest"

-- `members` is the rest of the row's JSON after its "state" member, up to and including the closing brace.
local function store(line, state, members)
  if state == 'unchanged' then redis.call('SETBIT', unchangedKey, line, 1)
  else redis.call('HSET', rowsKey, line, '{"state":"' .. state .. '",' .. members) end
  counts[state] = counts[state] + 1
end

for i = FIRST_ROW_ARG, #ARGV, GROUP do
  local kind, line, key, fp, ticks, json, graph = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
  local version = ticks .. ':' .. string.format('%016d', firstSequence + (i - FIRST_ROW_ARG) / GROUP)
  if tonumber(line) > maxLine then maxLine = tonumber(line) end
  local existing = nil
  if not dry then
    existing = redis.call('HGET', rowsKey, line)
    if not existing and redis.call('GETBIT', unchangedKey, line) == 1 then existing = '{"state":"unchanged"}' end
  end
  if existing then
    local row = decodeRow(existing)
    -- A queued row is always its key's newest update (a newer one supersedes it), so P:latest holds its version.
    local version = row.version
    if row.state == 'queued' and not version then
      local latest = readEntry(latestKey, key, keyDigest(key), true)
      if latest then
        local p = split(latest)
        if p[2] == runId and p[3] == line then version = p[1] end
      end
    end
    if row.state == 'queued' and version then
      out[#out + 1] = 'requeue|' .. tostring(row.generation or 0) .. '|' .. version
    else
      out[#out + 1] = 'dup'
    end
  elseif kind == 'r' then
    if not dry then store(line, 'rejected', string.sub(json, 2)) end
    out[#out + 1] = 'rejected'
  else
    -- Only a valid row's key is looked up: a rejected or already admitted row costs no digest.
    local field = keyDigest(key)
    local latest = readEntry(latestKey, key, field, not dry)
    local lv, lrun, lline
    if latest then
      local p = split(latest); lv, lrun, lline = p[1], p[2], p[3]
    end
    local sent = readEntry(fpKey, key, field, not dry)
    local sfp, sv
    if sent then local p = split(sent); sfp, sv = p[1], p[2] end
    local unchanged = full ~= '1' and sfp == fp and (lv == nil or lv == sv)
    if dry then
      if lv and lv > version then out[#out + 1] = 'stale'
      elseif unchanged then out[#out + 1] = 'unchanged'
      elseif sent or latest then out[#out + 1] = 'changed'
      else out[#out + 1] = 'new' end
    elseif lv and lv > version then
      local by = cjson.encode({ runId = lrun, line = tonumber(lline) })
      store(line, 'superseded', '"supersededBy":' .. by .. ',"key":' .. cjson.encode(key) .. '}')
      out[#out + 1] = 'superseded'
    elseif graph == 'f' then
      local extra = ''
      if json ~= '' then extra = ',' .. json end
      store(line, 'failed', '"version":"' .. version .. '","line":' .. line .. ',"key":' .. cjson.encode(key)
        .. ',"fingerprint":' .. cjson.encode(fp) .. ',"generation":0' .. extra .. '}')
      out[#out + 1] = 'failed'
    elseif graph == '' and unchanged then
      store(line, 'unchanged', '')
      out[#out + 1] = 'unchanged'
    else
      -- Graph holds the values (g): this row becomes the newest update and what Graph is proven to hold, as if sent;
      -- an older update still queued is superseded below, so it cannot overwrite Graph afterwards.
      redis.call('HSET', latestKey, field, version .. '|' .. runId .. '|' .. line)
      local decision = 'queued'
      if graph == 'g' then
        redis.call('HSET', fpKey, field, fp .. '|' .. version)
        store(line, 'unchanged', '')
        decision = 'unchanged'
      else
        -- A tenant's key starts with its GUID (src/redis-layout.ts tenantRecordKey): its job is in that tenant's queue.
        local tenant = string.match(key, '^(%x+%-%x+%-%x+%-%x+%-%x+)/')
        redis.call('HSET', rowsKey, line, tenant and ('q|0|' .. tenant) or 'q|0')
        counts.queued = counts.queued + 1
        counts.enqueued = counts.enqueued + 1
      end
      if lrun and not (lrun == runId and lline == line) then
        local prevRunKey = prefix .. ':run:' .. lrun
        local prevRowsKey = prevRunKey .. ':rows'
        local prevJson = redis.call('HGET', prevRowsKey, lline)
        if prevJson then
          local prev = decodeRow(prevJson)
          if prev.state == 'queued' then
            -- Built by concatenation, as store() builds rows: a backlog superseded whole is one of these per row.
            local by = ',"supersededBy":{"runId":' .. runIdJson .. ',"line":' .. line .. '}}'
            redis.call('HSET', prevRowsKey, lline, '{"state":"superseded","key":' .. cjson.encode(key) .. by)
            if not supersededIn[prevRunKey] then
              supersededRuns[#supersededRuns + 1] = prevRunKey
              supersededIn[prevRunKey] = 0
            end
            supersededIn[prevRunKey] = supersededIn[prevRunKey] + 1
            if decision == 'queued' then
              decision = 'queued|' .. lrun .. '|' .. lline .. '|' .. tostring(prev.generation or 0) .. '|' .. lv
            end
          end
        end
      end
      out[#out + 1] = decision
    end
  end
end
if dry then return out end
for state, n in pairs(counts) do
  if n > 0 then
    redis.call('HINCRBY', runKey, state, n)
    if state ~= 'enqueued' then redis.call('HINCRBY', statsKey, 'rows:' .. state, n) end
  end
end
local supersededTotal = 0
for _, theRunKey in ipairs(supersededRuns) do
  local n = supersededIn[theRunKey]
  redis.call('HINCRBY', theRunKey, 'queued', -n)
  redis.call('HINCRBY', theRunKey, 'superseded', n)
  supersededTotal = supersededTotal + n
end
if supersededTotal > 0 then
  redis.call('HINCRBY', statsKey, 'rows:queued', -supersededTotal)
  redis.call('HINCRBY', statsKey, 'rows:superseded', supersededTotal)
end
-- An earlier run whose last queued rows this batch superseded has ended.
for _, theRunKey in ipairs(supersededRuns) do
  if theRunKey ~= runKey then finishRunIfDone(theRunKey) end
end
if counts.queued > 0 then reopenRun(runKey) end
redis.call('HSET', runKey, 'maxLine', maxLine)
return out
