--[[
Counts one row's 400 toward a tenant's refusal breaker (src/pacing/refusal-breaker.ts): a run of 400s of one message
shape on distinct rows, with no success between, is Graph refusing the route, not the rows.
KEYS[1] the tenant's breaker hash (P:breaker or P:tenant:T:breaker: trippedAt, reason, cause, refusalShape)
KEYS[2] the rows counted in the current run (SET, <breaker>:refused)
KEYS[3] rows whose run was broken, so their 400 was their own (SET, <breaker>:refused-own)
KEYS[4] the tenant's write budget hash (blocked, epoch)
ARGV[1] shape, ARGV[2] row ("<runId>:<line>"), ARGV[3] threshold, ARGV[4] reason if this trips it, ARGV[5] now (ms),
ARGV[6] ttl (ms) of the two sets (a safety net: a held row removes itself)
Returns: {"held", 0} the breaker was already tripped | {"tripped", n} this row tripped it | {"counting", n}
]]
local breaker, counting, own, budget = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local shape, row, threshold, reason, now, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6]
if redis.call('HEXISTS', breaker, 'trippedAt') == 1 then return {'held', 0} end
if redis.call('HGET', breaker, 'refusalShape') ~= shape then
  -- Another kind of 400 breaks the run: the rows counted so far were refused for reasons of their own.
  if redis.call('EXISTS', counting) == 1 then
    redis.call('SUNIONSTORE', own, own, counting)
    redis.call('DEL', counting)
    redis.call('PEXPIRE', own, ttl)
  end
  redis.call('HSET', breaker, 'refusalShape', shape)
end
redis.call('SREM', own, row)
redis.call('SADD', counting, row)
redis.call('PEXPIRE', counting, ttl)
local n = redis.call('SCARD', counting)
if n < threshold then return {'counting', n} end
redis.call('HSET', breaker, 'trippedAt', now, 'reason', reason, 'cause', 'refused')
-- Moving the budget's epoch on voids the send slots already handed out, so waiting requests stop too.
redis.call('HSET', budget, 'blocked', '1')
redis.call('HINCRBY', budget, 'epoch', 1)
return {'tripped', n}
