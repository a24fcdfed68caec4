-- P:latest and P:fingerprints are keyed by a digest of the row's key, not the key itself: the first 32 hex digits of
-- its SHA-1 (keyDigest in src/redis-layout.ts, the same thing in TypeScript). A key of about 100 characters as the
-- field cost each entry about 64 B more, and every key ever imported keeps an entry. A key always holds a `/`, so a
-- digest is never a key.
local function keyDigest(key)
  return string.sub(redis.sha1hex(key), 1, 32)
end

-- The entry of `key` (whose digest is `field`) in one of those hashes. Releases before the digest wrote the full key
-- as the field: such an entry is still found, and `move` (every script that writes) puts it under its digest, so the
-- hashes converge without a migration step.
local function readEntry(hash, key, field, move)
  local value = redis.call('HGET', hash, field)
  if value then return value end
  value = redis.call('HGET', hash, key)
  if value and move then
    redis.call('HSET', hash, field, value)
    redis.call('HDEL', hash, key)
  end
  return value
end

-- Deletes the entry under both fields, so an entry of an earlier release cannot come back into view.
local function deleteEntry(hash, key, field)
  redis.call('HDEL', hash, field, key)
end
