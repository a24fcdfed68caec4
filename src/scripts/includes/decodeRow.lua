-- A queued row is stored as "q|<generation>" (src/redis-layout.ts); every other row as JSON.
local function decodeRow(text)
  if string.byte(text, 1) == 113 then return { state = 'queued', generation = tonumber(string.sub(text, 3)) } end
  return cjson.decode(text)
end
