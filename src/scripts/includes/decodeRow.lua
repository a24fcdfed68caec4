-- A queued row is stored as "q|<generation>", or "q|<generation>|<tenant>" for a tenant of SYNC_TENANTS_FILE
-- (src/redis-layout.ts); every other row as JSON.
local function decodeRow(text)
  if string.byte(text, 1) == 113 then
    local generation, tenant = string.match(text, '^q|(%d+)|?(.*)$')
    return { state = 'queued', generation = tonumber(generation), tenant = tenant ~= '' and tenant or nil }
  end
  return cjson.decode(text)
end
