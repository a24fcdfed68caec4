--[[
Graph answered a write of the tenant other than with a 400 (a success, or a 404, 409 ...): it has the route, so the
400s counted so far were each about its own row.
Moves the counted rows to the "own" set (each fails when it looks again) and forgets the shape. Does nothing when no
row is counted (the common case: one EXISTS), or when the breaker has tripped (its held rows wait for `resume`).
KEYS[1] the tenant's breaker hash, KEYS[2] the rows counted in the current run (SET), KEYS[3] the rows whose 400 was their own (SET)
ARGV[1] ttl (ms) of the "own" set
Returns: the number of rows moved
]]
local breaker, counting, own = KEYS[1], KEYS[2], KEYS[3]
if redis.call('EXISTS', counting) == 0 then return 0 end
if redis.call('HEXISTS', breaker, 'trippedAt') == 1 then return 0 end
local n = redis.call('SCARD', counting)
redis.call('SUNIONSTORE', own, own, counting)
redis.call('DEL', counting)
redis.call('PEXPIRE', own, ARGV[1])
redis.call('HDEL', breaker, 'refusalShape')
return n
