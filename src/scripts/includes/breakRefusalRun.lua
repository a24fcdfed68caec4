-- Graph answered a write of the tenant other than with a 400 (a success, or a 404, 409 ...): it has the route, so the
-- 400s counted so far were each about its own row. Moves the counted rows to the "own" set (each fails when it looks
-- again) and forgets the shape. Does nothing when no row is counted (the common case: one EXISTS), or when the breaker
-- has tripped (its held rows wait for `resume`). Returns the number of rows moved.
local function breakRefusalRun(breaker, counting, own, ownTtlMs)
  if redis.call('EXISTS', counting) == 0 then return 0 end
  if redis.call('HEXISTS', breaker, 'trippedAt') == 1 then return 0 end
  local n = redis.call('SCARD', counting)
  redis.call('SUNIONSTORE', own, own, counting)
  redis.call('DEL', counting)
  redis.call('PEXPIRE', own, ownTtlMs)
  redis.call('HDEL', breaker, 'refusalShape')
  return n
end
